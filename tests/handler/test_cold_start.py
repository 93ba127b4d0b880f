"""What the Lambda entry's import leaves for later: the collector paused while the modules load (their objects
frozen after), and the response models' validators and schemas unbuilt until something asks for them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from latentlens.handler import models

REPO = Path(__file__).resolve().parents[2]

COUNT_COLLECTIONS = ("import gc, json\n"
                     "runs = []\n"
                     "gc.callbacks.append(lambda phase, info: runs.append(phase == 'start'))\n"
                     "count = lambda: sum(runs)\n")


def fresh(code: str) -> dict:
    """`code` run in a new interpreter (this environment, the checkout's packages), which prints one JSON line."""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_entry_loads_with_the_collector_paused_then_freezes_its_objects_and_resumes_it() -> None:
    seen = fresh(COUNT_COLLECTIONS + "import latentlens.handler.import_pause\n"
                 "during = count()\n"
                 "import latentlens.handler.app\n"
                 "print(json.dumps({'during': count() - during, 'enabled': gc.isenabled(), "
                 "'frozen': gc.get_freeze_count()}))")
    assert seen["during"] == 0  # not one collection while fastapi, pydantic, duckdb and the app loaded
    assert seen["enabled"] and seen["frozen"] > 10_000


def test_the_same_imports_collect_many_times_without_the_pause() -> None:
    """The comparison the test above needs: the collector does run during these imports when nothing pauses it."""
    seen = fresh(COUNT_COLLECTIONS + "import latentlens.handler.answers, latentlens.handler.routes.users\n"
                 "print(json.dumps({'runs': count(), 'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count()}))")
    assert seen["runs"] > 10 and seen["enabled"] and seen["frozen"] == 0  # and other modules leave it alone


def test_response_models_are_built_on_first_use_and_the_openapi_document_still_has_them(client) -> None:
    fields = fresh("import json, latentlens.handler.app as app, latentlens.handler.models as m, "
                   "latentlens.handler.errors as e\n"
                   "print(json.dumps([m.UserRecommendations.__pydantic_complete__, "
                   "e.ErrorResponse.__pydantic_complete__]))")
    assert fields == [False, False]  # the entry's import built neither
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"UserRecommendations", "RecommendedMovie", "ErrorResponse", "Health"} <= set(schemas)
    assert schemas["UserRecommendations"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/"
                                                                                     "RecommendedMovie"}
    body = client.get("/users/1/recommendations").json()
    assert models.UserRecommendations.model_validate(body).user_id == 1  # the model builds when first used
