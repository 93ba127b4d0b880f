"""The lookups, one row each: which answer (latentlens.handler.answers) is which HTTP route and which
latentlens.Lens method, and which model (latentlens.handler.models) its body is.

`Lookups` is the table. latentlens.Lens inherits its rows as methods: each takes its answer's parameters
after `art` and `src`, with the answer's defaults and docstring, and returns the model (`genres()` the
list inside it), so a type checker sees every method typed. On the HTTP side, parameters named in `{}`
in the path are path parameters and the others query parameters, under their own name or the one
`query` gives. The routes stay hand-written FastAPI functions (latentlens.handler.routes):
tests/handler/test_lookups.py fails when a route and its rows disagree (a path, a parameter, a default,
the response model), and tests/api asks the Lens and the routes the same questions through this table.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MethodType
from typing import Any, Concatenate, Generic, Literal, ParamSpec, Protocol, TypeVar, overload

from pydantic import BaseModel

from latentlens.handler import answers
from latentlens.handler.artifact import Artifact
from latentlens.handler.models import (
    Genres,
    Health,
    LikedRecommendations,
    Movie,
    PopularMovies,
    SearchResults,
    SessionRecommendations,
    SimilarMovies,
    UserRecommendations,
)
from latentlens.handler.queries import RowSource

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


class Asker(Protocol):
    """What a class needs to inherit the rows as methods (latentlens.Lens): a way to run one lookup."""

    def _ask(self, lookup: Lookup[..., R], /, *args: Any, **kwargs: Any) -> R: ...


@dataclass(frozen=True)
class Param:
    """One parameter of a lookup: its Python name (the answer's and the Lens method's), its name in the
    URL, where the URL carries it, and its default (inspect.Parameter.empty when it has none)."""

    name: str
    http: str
    where: Literal["path", "query"]
    default: Any

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


class Lookup(Generic[P, R]):
    """One row of the table: the route's `path`, the `answer` function, the response `model`; `query` renames
    query parameters ({python name: URL name}); `unwrap` takes the Lens's return value out of the model;
    `aliases` are further paths answering the same (same path parameters), routes but not Lens methods."""

    @overload
    def __init__(self: Lookup[P, M], path: str, answer: Callable[Concatenate[Artifact, RowSource, P], dict],
                 model: type[M], *, query: Mapping[str, str] | None = None, aliases: tuple[str, ...] = ()) -> None: ...

    @overload
    def __init__(self: Lookup[P, R], path: str, answer: Callable[Concatenate[Artifact, RowSource, P], dict],
                 model: type[M], *, query: Mapping[str, str] | None = None, unwrap: Callable[[M], R],
                 aliases: tuple[str, ...] = ()) -> None: ...

    def __init__(self, path: str, answer: Callable[..., dict], model: type[BaseModel], *,
                 query: Mapping[str, str] | None = None, unwrap: Callable[[Any], Any] | None = None,
                 aliases: tuple[str, ...] = ()) -> None:
        self.path, self.answer, self.model, self.unwrap = path, answer, model, unwrap
        self.paths = (path, *aliases)
        for alias in aliases:
            if set(re.findall(r"{(\w+)}", alias)) != set(re.findall(r"{(\w+)}", path)):
                raise ValueError(f"{alias}: an alias of {path} takes the same path parameters")
        self.name = answer.__name__  # the attribute's name, once the row is in a table (__set_name__)
        signature = inspect.signature(answer)
        if list(signature.parameters)[:2] != ["art", "src"]:
            raise ValueError(f"{path}: {answer.__name__}() must take (art, src, ...), as every answer does")
        own = list(signature.parameters.values())[2:]  # after art and src
        in_path = set(re.findall(r"{(\w+)}", path))
        query = dict(query or {})
        unknown = (in_path | set(query)) - {p.name for p in own}
        if unknown:
            raise ValueError(f"{path}: {answer.__name__}() has no parameter {', '.join(sorted(unknown))}")
        self.params = tuple(Param(p.name, query.get(p.name, p.name), "path" if p.name in in_path else "query",
                                  p.default) for p in own)
        returns = self.model.__name__ if unwrap is None else inspect.signature(unwrap).return_annotation
        self._signature = signature.replace(
            parameters=[inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *own],
            return_annotation=returns)
        self.method: Callable[..., R] = self._method()

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.method.__name__, self.method.__qualname__ = name, f"{owner.__qualname__}.{name}"

    def _method(self) -> Callable[..., R]:
        """The function the table's class gets: the answer's signature and docstring, run by `_ask`."""
        lookup = self

        def method(self: Asker, /, *args: Any, **kwargs: Any) -> R:
            return self._ask(lookup, *args, **kwargs)

        method.__doc__ = self.answer.__doc__
        method.__signature__ = self._signature  # type: ignore[attr-defined]  # what help() and inspect show
        return method

    def result(self, body: dict) -> R:
        """What the Lens returns for an answer's body: the model, or the part of it `unwrap` takes."""
        model = self.model.model_validate(body)
        return model if self.unwrap is None else self.unwrap(model)  # type: ignore[return-value]

    @overload
    def __get__(self, lens: None, owner: type) -> Callable[Concatenate[Any, P], R]: ...

    @overload
    def __get__(self, lens: Asker, owner: type) -> Callable[P, R]: ...

    def __get__(self, lens: Asker | None, owner: type) -> Callable[..., R]:
        return self.method if lens is None else MethodType(self.method, lens)

    def __repr__(self) -> str:
        return f"<Lookup {self.name}: GET {self.path} -> {self.model.__name__}>"


def genre_names(genres: Genres) -> list[str]:
    return genres.genres


class Lookups:
    """The table: one row per lookup, named as the latentlens.Lens method (the class inherits them)."""

    recommend = Lookup("/users/{user_id}/recommendations", answers.user_recommendations, UserRecommendations,
                       aliases=("/recommend/{user_id}",))  # the original project's route
    recommend_session = Lookup("/sessions/{session_id}/recommendations", answers.session_recommendations,
                               SessionRecommendations)
    similar = Lookup("/movies/{movie_id}/similar", answers.similar, SimilarMovies)
    for_ratings = Lookup("/recommendations", answers.for_ratings, LikedRecommendations)
    liked = Lookup("/recommendations", answers.liked, LikedRecommendations, query={"movie_ids": "liked"})
    search = Lookup("/movies", answers.search, SearchResults, query={"text": "search"})
    popular = Lookup("/popular", answers.popular, PopularMovies)
    genres = Lookup("/genres", answers.genres, Genres, unwrap=genre_names)
    movie = Lookup("/movies/{movie_id}", answers.movie, Movie)
    info = Lookup("/health", answers.health, Health)


LOOKUPS: tuple[Lookup[..., Any], ...] = tuple(row for row in vars(Lookups).values() if isinstance(row, Lookup))
