"""The lookup table (latentlens.handler.lookups) and the app's routes agree: every documented route is a
row and every row a route, with the same parameters (path or query, name, required, default) and
the row's model as the 200's schema. latentlens.Lens's lookup methods are exactly the rows, with
their answers' signatures and docstrings."""

from __future__ import annotations

import copy
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from starlette.responses import Response

from latentlens.handler import answers, models
from latentlens.handler.app import create_app
from latentlens.handler.deps import StoreDep, answered
from latentlens.handler.lookups import LOOKUPS, Lookup, Lookups
from latentlens.handler.routes.params import MovieId, UserId
from latentlens.handler.settings import Settings
from latentlens.handler.stores import make_store
from latentlens.lens import Lens
from tests.handler.conftest import make_settings

GUIDE = Path(__file__).parents[2] / "docs" / "add-a-model.md"

NOT_LOOKUPS = {"close", "sql", "source"}  # the Lens's own public names
# Routes that are no lookup, so no row and no Lens method: writes (checked to take POST only).
NOT_LOOKUP_ROUTES = {"/events": "POST: events in (handler/routes/events.py)"}


@pytest.fixture(scope="module")
def spec() -> dict:
    return create_app(Settings(db="/nonexistent/never-opened.duckdb")).openapi()


def disagreements(spec: dict, lookups: tuple[Lookup, ...]) -> list[str]:
    """Where the OpenAPI document and the table differ, one line each (empty when they agree)."""
    found = []
    routes = {path: ops for path, ops in spec["paths"].items() if path not in NOT_LOOKUP_ROUTES}
    found += [f"{path} is no lookup but takes {sorted(spec['paths'][path])}" for path in NOT_LOOKUP_ROUTES
              if path in spec["paths"] and set(spec["paths"][path]) != {"post"}]
    for path in sorted(set(routes) - {path for lookup in lookups for path in lookup.paths}):
        found.append(f"route {path} has no row in the lookup table")
    for lookup in lookups:
        for path in lookup.paths:
            if path not in routes:
                found.append(f"row {lookup.name} has no route {path}")
    for path, ops in sorted(routes.items()):
        rows = [lookup for lookup in lookups if path in lookup.paths]
        if not rows:
            continue
        if set(ops) != {"get"}:
            found.append(f"{path}: methods {sorted(ops)}, a lookup is GET only")
        op = ops.get("get", {})
        schema = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {}).get("schema")
        for lookup in rows:
            if schema != {"$ref": f"#/components/schemas/{lookup.model.__name__}"}:
                found.append(f"{path}: 200 is {schema}, row {lookup.name} says {lookup.model.__name__}")
        documented = {(p["in"], p["name"]): p for p in op.get("parameters", [])}
        declared = {(p.where, p.http) for lookup in rows for p in lookup.params}
        for where, name in sorted(set(documented) ^ declared):
            side = "the route" if (where, name) in documented else "the table"
            found.append(f"{path}: {where} parameter {name} only in {side}")
        for (where, name), param in sorted(documented.items()):
            mine = [p for lookup in rows for p in lookup.params if (p.where, p.http) == (where, name)]
            required = len(mine) == len(rows) and all(p.required for p in mine)  # required by every row
            if mine and param.get("required", False) != required:
                found.append(f"{path}: {name} required {param.get('required', False)}, the table says {required}")
            if "default" in param["schema"] and any(p.default != param["schema"]["default"] for p in mine):
                found.append(f"{path}: {name} defaults to {param['schema']['default']}, the table to "
                             f"{[p.default for p in mine]}")
    return found


def test_every_route_is_a_row_and_every_row_a_route(spec) -> None:
    assert disagreements(spec, LOOKUPS) == []
    assert "/users/{user_id}/recommendations" in spec["paths"]  # real routes were compared


def test_the_check_finds_each_kind_of_disagreement(spec) -> None:
    by_name = {lookup.name: lookup for lookup in LOOKUPS}
    without_movie = tuple(lookup for lookup in LOOKUPS if lookup.name != "movie")
    assert disagreements(spec, without_movie) == ["route /movies/{movie_id} has no row in the lookup table"]
    extra = Lookup("/movies/{movie_id}/cast", by_name["movie"].answer, by_name["movie"].model)
    assert disagreements(spec, (*LOOKUPS, extra)) == ["row movie has no route /movies/{movie_id}/cast"]
    doctored = copy.deepcopy(spec)
    popular = doctored["paths"]["/popular"]["get"]
    popular["parameters"] = [p for p in popular["parameters"] if p["name"] != "genre"]
    next(p for p in popular["parameters"] if p["name"] == "n")["schema"]["default"] = 20
    doctored["paths"]["/genres"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {}
    assert disagreements(doctored, LOOKUPS) == [
        "/genres: 200 is {}, row genres says Genres",
        "/popular: query parameter genre only in the table",
        "/popular: n defaults to 20, the table to [10]",
    ]


def test_the_lens_methods_are_the_rows() -> None:
    public = {name for name in dir(Lens) if not name.startswith("_")}
    assert public == {lookup.name for lookup in LOOKUPS} | NOT_LOOKUPS
    assert [lookup.name for lookup in LOOKUPS] == [name for name in vars(Lookups) if not name.startswith("_")]
    for lookup in LOOKUPS:
        method = getattr(Lens, lookup.name)
        assert inspect.isfunction(method) and method.__name__ == lookup.name, lookup
        assert method.__doc__ == lookup.answer.__doc__ and method.__doc__, lookup
        params = list(inspect.signature(lookup.answer).parameters.values())
        assert list(inspect.signature(method).parameters.values())[1:] == params[2:], lookup  # after art, src


def test_help_shows_each_lookup_as_a_method_with_its_signature() -> None:
    import pydoc

    text = pydoc.render_doc(Lens, renderer=pydoc.plaintext)
    assert "recommend(self, user_id: 'int', n: 'int' = 10, genre: 'str | None' = None) -> 'UserRecommendations'" in text
    assert "popular(self, genre: 'str | None' = None, n: 'int' = 10) -> 'PopularMovies'" in text
    assert "genres(self) -> 'list[str]'" in text
    assert "for_ratings with every movie at 5 stars, in the order given (the last is the latest)." in text


def test_a_row_its_answer_cannot_fill_fails_at_import() -> None:
    with pytest.raises(ValueError, match="has no parameter user_id"):
        Lookup("/users/{user_id}/popular", answers.popular, models.PopularMovies)
    with pytest.raises(ValueError, match="has no parameter q"):
        Lookup("/movies", answers.search, models.SearchResults, query={"q": "search"})
    with pytest.raises(ValueError, match=r"must take \(art, src, ...\)"):
        Lookup("/movies", answers.search_query, models.SearchResults)


def guide_blocks() -> dict[str, str]:
    """The endpoint example of docs/add-a-model.md: its code blocks by the file their first line names."""
    example = GUIDE.read_text(encoding="utf-8").split("### Worked example", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:python|yaml)\n(.*?)```", example, flags=re.S)
    named = {block.split("\n", 1)[0].removeprefix("# "): block for block in blocks if block.startswith("# handler/")}
    named["template.yaml"] = next(block for block in blocks if "Type: HttpApi" in block)
    return named


def test_the_guides_endpoint_example_works_as_written(artifact, tmp_path) -> None:
    """The worked example of docs/add-a-model.md, added to a copy of the table and to the app: the Lens gets
    the method, the route answers the same, the table check passes and the template names the path."""
    blocks = guide_blocks()
    assert set(blocks) == {"handler/answers.py", "handler/models.py", "handler/lookups.py", "handler/routes/users.py",
                           "template.yaml"}
    answer_names, model_names = dict(vars(answers)), dict(vars(models))  # each block runs among its file's names
    exec(blocks["handler/answers.py"], answer_names)
    exec(blocks["handler/models.py"], model_names)
    guide = SimpleNamespace(because=answer_names["because"])
    explanation = model_names["Explanation"]
    rows = {"Lookup": Lookup, "answers": guide, "Explanation": explanation}
    exec("class Rows:\n" + blocks["handler/lookups.py"].split("\n", 1)[1], rows)
    row = vars(rows["Rows"])["because"]
    lens_class = type("GuideLens", (Lens,), {"because": row})
    routes = {"router": APIRouter(), "Request": Request, "Response": Response, "StoreDep": StoreDep,
              "UserId": UserId, "MovieId": MovieId, "answered": answered, "answers": guide, "Explanation": explanation}
    exec(blocks["handler/routes/users.py"], routes)
    settings = make_settings(artifact, tmp_path)
    app = create_app(settings)
    app.include_router(routes["router"])
    lens = lens_class(make_store(settings))
    try:
        picked = lens.because(1, 318)
        assert isinstance(picked, explanation) and picked.rank == 1
        assert [b.movie_id for b in picked.because] == [858, 1213]
        assert lens.because(1, 5).rank is None
        with TestClient(app) as client:
            assert client.get("/users/1/because/318").json() == picked.model_dump(mode="json")
            assert client.get("/users/1/because/0").status_code == 422
        assert disagreements(app.openapi(), (*LOOKUPS, row)) == []
        assert f'Path: "{row.path}"' in blocks["template.yaml"]
    finally:
        lens.close()
        app.state.store.close()
