"""`latentlens build --events URI` and `--challenger MODEL`: a next build that learns from the events people sent,
and an A/B challenger's lists beside the champion's. Real parts: event stores written by the SQLite store (and, in
the server tier, moto's DynamoDB), real builds of the small fixture with a real MLflow sqlite store."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import boto3
import duckdb
import polars as pl
import pytest

from latentlens.build.data.loader import load_movielens
from latentlens.build.engines.inprocess import InProcessEngine
from latentlens.build.pipeline import run
from latentlens.build.settings import BuildSettings, EvaluationSettings
from latentlens.build.stages.events import EventStoreError, learn_from_events
from latentlens.build.stages.export import artifact_tables
from latentlens.build.tracking.tracker import NullTracker
from latentlens.cli import main
from latentlens.handler import schema
from latentlens.handler.events.dynamodb_store import DynamoDBEventStore
from latentlens.handler.events.model import Person, StoredEvent
from latentlens.handler.events.sqlite_store import SQLiteEventStore
from tests.handler.conftest import make_settings, running_moto
from tests.handler.test_events_dynamodb import create_events_table

USER_1 = Person(user_id=1)
SESSION_A, SESSION_B = Person(session_id="sess-a"), Person(session_id="sess-b")
DAY = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
_tables = itertools.count()


def rating(event_id: str, person: Person, movie: int, stars: float, at_s: float) -> StoredEvent:
    return StoredEvent(event_id=event_id, person=person, movie_id=movie, type="rating", rating=stars,
                       recommendation_id=None, at=StoredEvent.from_ms(round(at_s * 1000)))


def story() -> list[StoredEvent]:
    """What people did since the build, each event a rule of the fold (user 1's ratings of movies 101, 235 and 356
    are in the small fixture at 964980868, 964980908 and 964980962; the fixture's largest user id is 150)."""
    return [
        rating("late", USER_1, 101, 1.0, DAY),                 # later than the file's 5.0: overrides it
        rating("same-second", USER_1, 235, 2.0, 964980908),    # the file's second: the event is the later rating
        rating("older", USER_1, 356, 0.5, 964980961),          # a second before the file's 4.0: the file's stays
        rating("x-a", USER_1, 858, 3.0, DAY + 5),              # the same millisecond: event_id order, x-b last
        rating("x-b", USER_1, 858, 5.0, DAY + 5),
        rating("new-user", Person(user_id=151), 858, 4.5, DAY + 9),  # a user id the dataset lacks: a new user
        *(rating(f"a{i}", SESSION_A, movie, stars, DAY + 86_400 + 60 * i)
          for i, (movie, stars) in enumerate([(318, 5.0), (858, 5.0), (296, 4.5), (593, 4.0), (2571, 3.0)])),
        rating("b0", SESSION_B, 1, 4.0, DAY + 3_600),          # sess-b starts first: the lower id
        rating("b1", SESSION_B, 260, 5.0, DAY + 3_660),
        rating("b2", SESSION_B, 1196, 5.0, DAY + 3_720),
        rating("b3", SESSION_B, 1, 2.0, DAY + 7_200),          # sess-b changes its mind about movie 1
        StoredEvent("c0", SESSION_A, 1, "click", None, None, StoredEvent.from_ms(round(DAY * 1000))),  # no rating
    ]


READ, USED, SESSIONS = 15, 12, 2  # rating events; less "older", "x-a" and "b0", each overridden by a later rating
SESSION_IDS = {"sess-b": 152, "sess-a": 153}  # above user 151 of the events, by first event


def sqlite_store(path: Path, events: list[StoredEvent]) -> str:
    store = SQLiteEventStore(str(path))
    try:
        for start in range(0, len(events), 25):
            store.put(events[start:start + 25])
    finally:
        store.close()
    return str(path)


def file_ratings(data_dir: Path) -> pl.DataFrame:
    return pl.read_csv(data_dir / "ratings.csv").rename({"userId": "user_id", "movieId": "movie_id"})


def test_events_fold_into_the_ratings_by_the_build_order_rule(small_dataset: Path, tmp_path: Path) -> None:
    data = load_movielens(small_dataset)
    folded, learned = learn_from_events(data, sqlite_store(tmp_path / "events.sqlite", story()))
    assert (learned.read, learned.used, learned.sessions) == (READ, USED, SESSIONS)
    ratings = folded.ratings
    assert ratings.height == data.ratings.height + USED - 2  # 101 and 235 of user 1 replaced, not added
    assert ratings.select(pl.struct("user_id", "movie_id").is_unique().all()).item()

    def stars(user: int, movie: int) -> tuple[float, int]:
        row = ratings.filter((pl.col("user_id") == user) & (pl.col("movie_id") == movie))
        return row["rating"].item(), row["timestamp"].item()

    assert stars(1, 101) == (1.0, int(DAY))
    assert stars(1, 235) == (2.0, 964980908)
    assert stars(1, 356) == (4.0, 964980962)  # the file's, later than the event
    assert stars(1, 858)[0] == 5.0
    assert stars(151, 858)[0] == 4.5
    assert stars(152, 1)[0] == 2.0 and stars(152, 260)[0] == 5.0
    assert [stars(153, m)[0] for m in (318, 858, 296, 593, 2571)] == [5.0, 5.0, 4.5, 4.0, 3.0]
    # the file's rows first, in file order; then the events, in time order (the order rule's positions)
    assert ratings.head(data.ratings.height - 2).equals(data.ratings.filter(
        ~((pl.col("user_id") == 1) & pl.col("movie_id").is_in([101, 235]))))
    tail = ratings.tail(USED)
    assert tail["timestamp"].is_sorted() and tail["user_id"].to_list()[:2] == [1, 1]
    shown = dict(zip(learned.session_users["session_sha256"], learned.session_users["user_id"], strict=True))
    assert shown == {hashlib.sha256(s.encode()).hexdigest(): uid for s, uid in SESSION_IDS.items()}
    assert any(str(USED) in note for note in folded.notes)


def test_the_same_events_in_another_order_give_the_same_ratings_and_ids(small_dataset: Path, tmp_path: Path) -> None:
    data = load_movielens(small_dataset)
    one, learned_one = learn_from_events(data, sqlite_store(tmp_path / "one.sqlite", story()))
    two, learned_two = learn_from_events(data, sqlite_store(tmp_path / "two.sqlite", story()[::-1]))
    assert one.ratings.equals(two.ratings)
    assert learned_one.session_users is not None and learned_two.session_users is not None
    assert learned_one.session_users.equals(learned_two.session_users)


def test_no_events_is_the_ratings_file_alone(small_dataset: Path, tmp_path: Path) -> None:
    data = load_movielens(small_dataset)
    assert learn_from_events(data, None)[0] is data
    clicks = [StoredEvent("c", SESSION_A, 1, "click", None, None, StoredEvent.from_ms(0))]
    folded, learned = learn_from_events(data, sqlite_store(tmp_path / "clicks.sqlite", clicks))
    assert folded.ratings.equals(data.ratings)
    assert (learned.read, learned.used, learned.sessions, learned.session_users) == (0, 0, 0, None)


def build_args(data: Path, root: Path, *extra: str) -> list[str]:
    return ["build", "--data", str(data), "--out", str(root / "out" / "latentlens.duckdb"), "--quick",
            "--mlflow-uri", f"sqlite:///{root / 'mlflow.db'}", "--no-register", "--no-progress", *extra]


def refused(capsys: pytest.CaptureFixture[str], args: list[str], root: Path) -> str:
    """Exit 2, one error line on stderr (after the loader's log lines, when it read the data), nothing written at
    --out nor in the MLflow store: that line."""
    assert main(args) == 2
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert last.startswith("latentlens: error: ") and err.count("error") == 1 and "Traceback" not in err, err
    assert not (root / "out").exists() and not (root / "mlflow.db").exists()
    return last


def write_garbage(path: Path) -> None:
    path.write_bytes(b"not a database at all, just text\n" * 100)


def write_other_sqlite(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (run_uuid TEXT)")
    conn.close()


@pytest.mark.parametrize(("make", "said"), [
    (None, "no such file"),
    (lambda p: p.mkdir(), "not an event store file (it is a directory)"),
    (lambda p: p.touch(), "an empty file, not an event store"),
    (write_garbage, "file is not a database"),
    (write_other_sqlite, "is another SQLite database (tables: runs), not an event store"),
], ids=["missing", "directory", "empty", "not-sqlite", "other-sqlite"])
def test_a_store_that_cannot_be_read_is_one_line_and_exit_2(small_dataset, tmp_path, capsys, make, said) -> None:
    store = tmp_path / "events.sqlite"
    if make is not None:
        make(store)
    before = store.read_bytes() if store.is_file() else None
    err = refused(capsys, build_args(small_dataset, tmp_path, "--events", str(store)), tmp_path)
    assert f"--events {store}: " in err and said in err
    assert (store.read_bytes() if store.is_file() else None) == before  # read, never changed or created


def test_a_handler_setting_out_of_bounds_is_one_line_naming_it(small_dataset, tmp_path, monkeypatch) -> None:
    """The store is opened with the handler's Settings (DynamoDB's endpoint and timeouts): a bad LATENTLENS_*
    variable is named, its value never shown."""
    monkeypatch.setenv("LATENTLENS_DYNAMODB_READ_TIMEOUT_S", "-7")
    with pytest.raises(EventStoreError) as caught:
        learn_from_events(load_movielens(small_dataset), "dynamodb://events")
    assert str(caught.value) == ("--events dynamodb://events: LATENTLENS_DYNAMODB_READ_TIMEOUT_S: Input should be "
                                 "greater than 0")


@pytest.mark.parametrize(("bad", "said"), [
    (rating("off-step", SESSION_A, 1, 4.25, DAY), "rating not on the scale 0.5..5 in steps of 0.5; the first: event "
                                                  "off-step of a session, movie 1, rating 4.25"),
    (rating("off-scale", USER_1, 1, 5.5, DAY), "rating not on the scale 0.5..5 in steps of 0.5; the first: event "
                                               "off-scale of user 1"),
    (rating("gone", USER_1, 424242, 4.0, DAY), "1 rating event(s) with a movie not in ml-small-150's catalogue"),
], ids=["step", "scale", "movie"])
def test_an_event_the_ratings_file_could_not_hold_fails_the_build(small_dataset, tmp_path, capsys, bad, said) -> None:
    store = sqlite_store(tmp_path / "events.sqlite", [*story(), bad])
    err = refused(capsys, build_args(small_dataset, tmp_path, "--events", store), tmp_path)
    assert f"--events {store}: " in err and said in err


def test_an_unknown_challenger_is_refused_before_the_data_is_read(tmp_path, capsys) -> None:
    missing = tmp_path / "no-such-data"  # never read: the challenger is checked first
    err = refused(capsys, build_args(missing, tmp_path, "--challenger", "nosuch"), tmp_path)
    assert "--challenger nosuch: no such model; choose one of: popularity, itemknn, ease, content," in err
    err = refused(capsys, build_args(missing, tmp_path, "--challenger", "als_explicit"), tmp_path)
    assert "--challenger als_explicit: no implementation on the inprocess engine (it has: spark); choose" in err
    assert "no-such-data" not in err


@pytest.mark.parametrize("flags", [["--challenger", "popularity"], ["--events", "events.sqlite"],
                                   ["--challenger", "popularity", "--events", "events.sqlite"]])
def test_the_spark_engine_refuses_both_in_one_line(tmp_path, capsys, flags) -> None:
    err = refused(capsys, build_args(tmp_path / "no-such-data", tmp_path, "--engine", "spark", *flags), tmp_path)
    assert err.startswith(f"latentlens: error: {' and '.join(f for f in flags if f.startswith('--'))}: not on the "
                          "Spark engine")
    assert "--engine inprocess" in err


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with running_moto() as url:
        yield url


@pytest.mark.usefixtures("fake_aws_credentials")
def test_a_dynamodb_store_teaches_what_the_same_events_in_a_file_do(small_dataset, tmp_path, moto_server,
                                                                     monkeypatch) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server)
    name = f"latentlens-learn-{next(_tables)}"
    create_events_table(client, name)
    store = DynamoDBEventStore(name, make_settings("/nonexistent.duckdb", tmp_path, dynamodb_endpoint_url=moto_server,
                                                   dynamodb_region="us-east-1"))
    events = story()
    for start in range(0, len(events), 25):
        store.put(events[start:start + 25])
    monkeypatch.setenv("LATENTLENS_DYNAMODB_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("LATENTLENS_DYNAMODB_REGION", "us-east-1")
    data = load_movielens(small_dataset)
    from_table, learned = learn_from_events(data, f"dynamodb://{name}")
    from_file, _ = learn_from_events(data, sqlite_store(tmp_path / "events.sqlite", events))
    assert (learned.read, learned.used, learned.sessions) == (READ, USED, SESSIONS)
    assert from_table.ratings.equals(from_file.ratings)
    with pytest.raises(EventStoreError, match=r"^--events dynamodb://no-such-table: ") as caught:
        learn_from_events(data, "dynamodb://no-such-table")
    assert "\n" not in str(caught.value)


class KeptEngine(InProcessEngine):
    """The in-process engine, keeping what its export was handed (for the A/A check on the same fits)."""

    kept: SimpleNamespace

    @contextmanager
    def open(self, settings, chosen):
        with super().open(settings, chosen) as session:
            export = session.export

            def keep(comparison, finals, info, tracker):
                self.kept = SimpleNamespace(prepared=session.prepared, comparison=comparison, finals=finals, info=info)
                return export(comparison, finals, info, tracker)

            session.export = keep  # type: ignore[method-assign]
            yield session


@pytest.fixture(scope="module")
def learned_build(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One real build of the small fixture with --events (a SQLite store) and --challenger popularity, tracked in
    a real MLflow sqlite store; the champion is pinned so the challenger is another model."""
    root = tmp_path_factory.mktemp("learned-build")
    events = sqlite_store(root / "events.sqlite", story())
    settings = BuildSettings(data_dir=small_dataset, out=root / "latentlens.duckdb", quick=True,
                             mlflow_uri=f"sqlite:///{root / 'mlflow.db'}", models=("itemknn", "content", "baseline"),
                             evaluation=EvaluationSettings(folds=2), top_n=20, similar_n=10, register_model=False,
                             log_models="champions", topn_champion="itemknn", challenger="popularity", events=events,
                             progress=False)
    engine = KeptEngine()
    result = run(settings, engine)
    return SimpleNamespace(settings=settings, result=result, kept=engine.kept, root=root)


@pytest.fixture
def con(learned_build) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(learned_build.settings.out), read_only=True)
    yield connection
    connection.close()


@pytest.mark.build
def test_build_info_says_what_was_learned_and_who_challenges(learned_build, con) -> None:
    info = dict(con.execute("SELECT key, value FROM build_info").fetchall())
    assert (info["events_used"], info["events_sessions"], info["challenger_model"]) == (str(USED), "2", "popularity")
    assert info["n_users"] == str(150 + 1 + SESSIONS)
    assert int(info["n_ratings"]) == file_ratings(learned_build.settings.data_dir).height + USED - 2
    # the challenger was evaluated like any model, beside the ones --models named
    assert "popularity" in learned_build.result.comparison["model"].to_list()


@pytest.mark.build
def test_sessions_are_users_the_artifact_maps_back_by_sha256(learned_build, con) -> None:
    rows = dict(con.execute("SELECT session_sha256, user_id FROM session_users").fetchall())
    assert rows == {hashlib.sha256(s.encode()).hexdigest(): uid for s, uid in SESSION_IDS.items()}
    rated = {152: {1, 260, 1196}, 153: {318, 858, 296, 593, 2571}, 151: {858}}
    for table in (schema.USER_RECOMMENDATIONS, schema.CHALLENGER_RECOMMENDATIONS):
        for user, movies in rated.items():
            listed = {m for (m,) in con.execute(f"SELECT movie_id FROM {table} WHERE user_id = ?", [user]).fetchall()}
            assert len(listed) == 20 and not listed & movies, (table, user)


@pytest.mark.build
def test_the_movies_table_counts_the_folded_ratings(learned_build, con) -> None:
    """Movie 101: user 1's 5.0 replaced by 1.0; movie 858: three new raters (users 1, 151 and a session)."""
    csv = file_ratings(learned_build.settings.data_dir)
    stats = {m: con.execute("SELECT n_ratings, mean_rating FROM movies WHERE movie_id = ?", [m]).fetchone()
             for m in (101, 858)}
    old_101 = csv.filter(pl.col("movie_id") == 101)["rating"]
    assert stats[101][0] == old_101.len()
    assert stats[101][1] == pytest.approx((old_101.sum() - 5.0 + 1.0) / old_101.len())
    old_858 = csv.filter(pl.col("movie_id") == 858)["rating"]
    assert stats[858][0] == old_858.len() + 3
    assert stats[858][1] == pytest.approx((old_858.sum() + 5.0 + 4.5 + 5.0) / (old_858.len() + 3))


@pytest.mark.build
def test_the_challenger_lists_are_popularity_s_beside_the_champion_s(learned_build, con) -> None:
    """Popularity scores a movie by its number of ratings: every challenger score is the movie's n_ratings, the
    folded count; the lists are each user's best unrated, with reasons found as the champion's."""
    columns = [c[0] for c in con.execute(f"DESCRIBE {schema.CHALLENGER_RECOMMENDATIONS}").fetchall()]
    assert columns == [c[0] for c in con.execute(f"DESCRIBE {schema.USER_RECOMMENDATIONS}").fetchall()]
    counts = con.execute(f"""SELECT count(*), count(DISTINCT user_id), max(rank), count(*) FILTER (WHERE c.score <>
                             m.n_ratings), count(*) FILTER (WHERE len(because) > 0)
                             FROM {schema.CHALLENGER_RECOMMENDATIONS} c JOIN movies m USING (movie_id)""").fetchone()
    assert counts[:4] == (153 * 20, 153, 20, 0) and counts[4] > 0
    unordered = con.execute(f"""SELECT count(*) FROM (SELECT score - lead(score) OVER (PARTITION BY user_id ORDER BY
                                rank) AS drop FROM {schema.CHALLENGER_RECOMMENDATIONS}) WHERE drop < 0""").fetchone()
    assert unordered == (0,)
    differs = con.execute(f"""SELECT count(*) FROM {schema.USER_RECOMMENDATIONS} u JOIN
                              {schema.CHALLENGER_RECOMMENDATIONS} c USING (user_id, rank)
                              WHERE u.movie_id <> c.movie_id""").fetchone()[0]
    assert differs > 153 * 20 // 2  # itemknn's lists are not popularity's


@pytest.mark.build
def test_mlflow_records_the_events_and_the_challenger(learned_build) -> None:
    from mlflow.tracking import MlflowClient

    logged = MlflowClient(learned_build.settings.mlflow_uri).get_run(learned_build.result.run_id).data
    assert logged.params["challenger_model"] == "popularity"
    assert (logged.params["events_used"], logged.params["events_read"], logged.params["events_sessions"]) == (
        str(USED), str(READ), str(SESSIONS))
    assert logged.params["events"] == learned_build.settings.events
    assert logged.metrics["events_used"] == USED and logged.metrics["challenger_export_seconds"] > 0


@pytest.mark.build
def test_an_a_a_test_stores_the_champion_s_very_lists(learned_build) -> None:
    """The champion's own name as the challenger: the same fit, so the same lists (on this build's fits)."""
    kept = learned_build.kept
    finals = replace(kept.finals, challenger_name=kept.finals.champions.topn)
    tables = artifact_tables(kept.prepared, kept.comparison, finals, kept.info, NullTracker())
    assert tables.challenger_recommendations is not None
    assert tables.challenger_recommendations.equals(tables.user_recommendations)
    assert tables.session_users is not None and tables.session_users.height == SESSIONS
