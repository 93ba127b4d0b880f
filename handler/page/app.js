"use strict";
// The LatentLens page: plain DOM, every request relative to where the page was served from
// (/, a stage prefix such as /Prod/, or a custom domain's base path). No data reaches innerHTML.
(function () {
  const BASE = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const $ = (id) => document.getElementById(id);
  const STORE_KEY = "latentlens.ratings", SESSION_KEY = "latentlens.session";
  // Whether the server has an event store (it fills in this meta tag): only then does the page send events and
  // show the session's list; off, it sends nothing and asks for picks from the ratings kept in this browser.
  const EVENTS = (document.querySelector("meta[name=latentlens-events]") || {}).content === "on";
  const MAX_BATCH = 25, ID = /^[A-Za-z0-9_-]{1,64}$/;
  let rated = loadRated();      // [{movie_id, title, stars, and with events event_id, from, sent}], the last the latest
  let current = null;           // the movie on the card
  let currentFrom = null;       // the recommendation_id of the list the card was opened from (a pick), else null
  let sid = null;               // the session id, once read or made
  let sending = Promise.resolve();  // rating sends, one after another: a movie rated again lands last
  let hits = [], active = -1, searchSeq = 0, searchTimer = 0;
  let movieSeq = 0, picksSeq = 0, userSeq = 0, popularSeq = 0;  // only the latest request of each kind is shown

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(path, init) {
    let r;
    try {
      r = await fetch(BASE + path, Object.assign({}, init, { headers: Object.assign({ Accept: "application/json" }, init && init.headers) }));
    } catch (e) {
      throw new ApiError(0, "unreachable", "The API is not answering. Is the server running?");
    }
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) {
      const err = (body && body.error) || {};
      throw new ApiError(r.status, err.code || "http_" + r.status, err.message || "request failed (" + r.status + ")");
    }
    return body;
  }

  function banner(err) {
    const b = $("banner");
    if (!err) { b.hidden = true; b.textContent = ""; return; }
    b.hidden = false;
    b.textContent = typeof err === "string" ? err : err.status === 503 ? "The recommendations are unavailable right now: " + err.message
                  : err.status === 0 ? err.message : "Something went wrong: " + err.message;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  // A list waiting for its request: one "Loading…" line, and aria-busy until `fill` (or an error) replaces it.
  function loading(list) {
    list.setAttribute("aria-busy", "true");
    list.replaceChildren(el("li", { className: "loading", textContent: "Loading…" }));
  }
  function clear(list) {
    list.removeAttribute("aria-busy");
    list.replaceChildren();
  }

  const stars = (n) => (Number.isInteger(n) ? n.toFixed(0) : n.toFixed(1)) + "★";
  const label = (m) => m.display_title + (m.year ? " (" + m.year + ")" : "");

  // A pick (a movie of the session's list, `from` its recommendation_id) sends a click event when opened.
  function movieButton(m, from) {
    const b = el("button", { type: "button", className: "link", textContent: label(m) });
    b.dataset.movieId = m.movie_id;
    b.addEventListener("click", () => {
      if (from) track([event("click", m.movie_id, { recommendation_id: from })]);
      openMovie(m.movie_id, from);
    });
    return b;
  }

  // "because you recently rated X" for a pick often rated next after one of the latest ratings (kind "recent"),
  // "you rated Y, Z" for the movies it is like (kind "similar")
  function because(item) {
    if (!item.because || !item.because.length) return null;
    const named = (kind) => item.because.filter((b) => (b.kind || "similar") === kind)
      .map((b) => b.display_title + " " + stars(b.rating)).join(", ");
    const phrases = [];
    if (named("recent")) phrases.push("you recently rated " + named("recent"));
    if (named("similar")) phrases.push("you rated " + named("similar"));
    return el("span", { className: "why", textContent: "because " + phrases.join(", and ") });
  }

  function fill(list, items, empty, withWhy, from) {
    clear(list);
    if (!items.length) { list.append(el("li", { className: "hint", textContent: empty })); return; }
    for (const m of items) {
      const li = el("li", {}, movieButton(m, from), el("span", { className: "meta", textContent: "  " + m.genres.join(", ") }));
      li.dataset.genres = m.genres.join("|");
      if (withWhy) li.append(because(m) || "");
      list.append(li);
    }
  }

  // --- search as you type -------------------------------------------------------------------
  function showHits(items, query) {
    const list = $("hits"), q = $("q");
    hits = items; active = -1;
    list.replaceChildren();
    if (!query) { list.hidden = true; q.setAttribute("aria-expanded", "false"); return; }
    if (!items.length) list.append(el("li", { className: "empty", textContent: "No movie matches “" + query + "”" }));
    items.forEach((m, i) => {
      const li = el("li", { id: "hit-" + i, role: "option" },
        el("strong", { textContent: label(m) }),
        el("span", { className: "meta", textContent: " · " + m.n_ratings.toLocaleString() + " ratings · " + m.genres.join(", ") }));
      li.setAttribute("aria-selected", "false");
      li.dataset.movieId = m.movie_id;
      li.addEventListener("mousedown", (e) => { e.preventDefault(); pick(i); });
      list.append(li);
    });
    list.hidden = false;
    q.setAttribute("aria-expanded", "true");
  }

  function highlight(i) {
    const items = $("hits").querySelectorAll("li[role=option]");
    items.forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
    active = i;
    if (i >= 0 && items[i]) { $("q").setAttribute("aria-activedescendant", items[i].id); items[i].scrollIntoView({ block: "nearest" }); }
    else $("q").removeAttribute("aria-activedescendant");
  }

  function pick(i) {
    const m = hits[i];
    if (!m) return;
    showHits([], "");
    $("q").value = label(m);  // the box shows the movie chosen, not what was typed to find it
    openMovie(m.movie_id);
  }

  async function search(query) {
    const seq = ++searchSeq;
    try {
      const body = await api("movies?limit=8&search=" + encodeURIComponent(query));
      if (seq === searchSeq) { banner(null); showHits(body.items, query); }
    } catch (e) {
      if (seq !== searchSeq) return;
      if (e.status === 422) showHits([], query); else { showHits([], ""); banner(e); }
    }
  }

  $("q").addEventListener("input", (e) => {
    const query = e.target.value.trim();
    clearTimeout(searchTimer);
    if (!query) { searchSeq++; showHits([], ""); return; }
    searchTimer = setTimeout(() => search(query), 120);
  });
  $("q").addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && hits.length) { e.preventDefault(); highlight((active + 1) % hits.length); }
    else if (e.key === "ArrowUp" && hits.length) { e.preventDefault(); highlight((active - 1 + hits.length) % hits.length); }
    else if (e.key === "Enter") { e.preventDefault(); pick(active >= 0 ? active : 0); }
    else if (e.key === "Escape") { showHits([], ""); }
  });
  $("q").addEventListener("blur", () => setTimeout(() => showHits([], ""), 150));

  // --- the movie card -----------------------------------------------------------------------
  async function openMovie(id, from) {
    const section = $("movie"), seq = ++movieSeq, typed = $("q").value;
    section.hidden = false;
    section.setAttribute("aria-busy", "true");
    loading($("similar"));
    try {
      const [m, sim] = await Promise.all([api("movies/" + id), api("movies/" + id + "/similar?n=10")]);
      if (seq !== movieSeq) return;
      banner(null);
      current = m;
      currentFrom = from || null;
      if ($("q").value === typed) $("q").value = label(m);  // unless a new search was typed meanwhile
      $("movie-title").textContent = label(m);
      const rating = m.mean_rating == null ? "no ratings yet"
        : "mean rating " + m.mean_rating.toFixed(2) + " from " + m.n_ratings.toLocaleString() + " ratings";
      $("movie-facts").textContent = [m.genres.join(", ") || "no genres listed", rating].join(" · ");
      const links = $("movie-links");
      links.replaceChildren();
      if (m.imdb_id) links.append(el("a", { href: "https://www.imdb.com/title/tt" + m.imdb_id + "/", textContent: "IMDb", rel: "noopener" }));
      if (m.tmdb_id) links.append(el("a", { href: "https://www.themoviedb.org/movie/" + m.tmdb_id, textContent: "TMDB", rel: "noopener" }));
      const mine = rated.find((r) => r.movie_id === m.movie_id);
      $("stars").value = mine ? String(mine.stars) : "";  // unrated until the person picks stars
      $("rate").disabled = !mine;
      $("rate").textContent = mine ? "Update rating" : "Rate";
      fill($("similar"), sim.items, "No similar movies stored for this one.", false);
      if (location.hash !== "#movie=" + id) history.replaceState(null, "", "#movie=" + id);
      $("movie-title").tabIndex = -1;
      $("movie-title").focus();
    } catch (e) {
      if (seq !== movieSeq) return;
      current = null;
      $("movie-title").textContent = e.status === 404 ? "Unknown movie" : "Could not load this movie";
      $("movie-facts").textContent = e.status === 404 ? "There is no movie " + id + " in this build." : e.message;
      $("movie-links").replaceChildren();
      clear($("similar"));
      if (e.status !== 404) banner(e);
    } finally {
      if (seq === movieSeq) section.removeAttribute("aria-busy");
    }
  }

  // --- events (only when the server has an event store) --------------------------------------
  function randomId() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The session: a random id kept in this browser, the only handle on its events and picks (nothing personal).
  // Made for the first event (`create`), so a page with events off never makes one.
  function session(create) {
    if (sid) return sid;
    try { sid = localStorage.getItem(SESSION_KEY); } catch (e) { /* private mode: kept for this page only */ }
    if (sid && !ID.test(sid)) sid = null;
    if (!sid && create) {
      sid = randomId();
      try { localStorage.setItem(SESSION_KEY, sid); } catch (e) { /* private mode */ }
    }
    return sid;
  }

  const event = (type, movieId, more) =>
    Object.assign({ session_id: session(true), movie_id: movieId, type: type, event_id: randomId() }, more);

  // Events go in batches of at most 25. A batch that got no answer, a 429 or a 5xx is sent again as it was, up
  // to three times: the same event_ids, so the server stores it once.
  async function sendBatch(batch) {
    const init = { method: "POST", cache: "no-store", headers: { "Content-Type": "application/json" }, body: JSON.stringify(batch) };
    for (let attempt = 1; ; attempt++) {
      try { return await api("events", init); } catch (e) {
        const again = (e.status === 0 || e.status === 429 || e.status >= 500) && e.code !== "events_disabled";
        if (!again || attempt === 3) throw e;
        await new Promise((done) => setTimeout(done, 300 * attempt));
      }
    }
  }
  async function sendEvents(events) {
    for (let i = 0; i < events.length; i += MAX_BATCH) await sendBatch(events.slice(i, i + MAX_BATCH));
  }
  // Clicks and impressions are best effort: a lost one is nothing the person could fix, so nothing is shown.
  function track(events) { sendEvents(events).catch(() => {}); }

  const refused = (e) => e.status >= 400 && e.status < 500 && e.status !== 429;  // sending it again cannot help
  const ratingEvent = (r) => event("rating", r.movie_id, { rating: r.stars, event_id: r.event_id, recommendation_id: r.from || null });

  // The ratings not stored yet, in the order given. Each keeps its event_id until the 202, so sending it again
  // (after a failure, or on the next visit) stores it once. A batch the server refuses (a movie the build lacks)
  // is not sent again.
  function sendRatings() {
    sending = sending.catch(() => {}).then(async () => {
      const unsent = rated.filter((r) => !r.sent && !r.refused);
      for (const r of unsent) r.event_id = r.event_id || randomId();
      for (let i = 0; i < unsent.length; i += MAX_BATCH) {
        const part = unsent.slice(i, i + MAX_BATCH);
        saveRated();
        try { await sendBatch(part.map(ratingEvent)); } catch (e) {
          if (refused(e)) { for (const r of part) r.refused = true; saveRated(); }
          throw e;
        }
        for (const r of part) r.sent = true;
        saveRated();
      }
    });
    return sending;
  }
  const unsentNote = (e) => refused(e) ? "Your rating was not taken: " + e.message
    : "Your latest rating is not stored yet (" + e.message + "); it is sent again with your next rating or visit.";

  // --- rate a few movies --------------------------------------------------------------------
  function loadRated() {
    try { const v = JSON.parse(localStorage.getItem(STORE_KEY) || "[]"); return Array.isArray(v) ? v : []; }
    catch (e) { return []; }
  }
  function saveRated() { try { localStorage.setItem(STORE_KEY, JSON.stringify(rated)); } catch (e) { /* private mode */ } }

  // A stored rating cannot be taken back, so with events on there is no Remove: "Forget my ratings" instead.
  function renderRated() {
    const list = $("rated");
    list.replaceChildren();
    for (const r of rated) {
      const item = el("li", {}, el("span", {}, movieButton({ movie_id: r.movie_id, display_title: r.title }), " " + stars(r.stars)));
      if (!EVENTS) {
        const remove = el("button", { type: "button", className: "remove", textContent: "Remove" });
        remove.setAttribute("aria-label", "Remove your rating of " + r.title);
        remove.addEventListener("click", () => { rated = rated.filter((x) => x.movie_id !== r.movie_id); saveRated(); refreshPicks(); });
        item.append(remove);
      }
      list.append(item);
    }
    $("rated-hint").hidden = rated.length > 0;
    $("events-note").hidden = !EVENTS;
    $("forget").hidden = !EVENTS || !rated.length;
  }

  // With events on: the ratings not stored yet are sent, then the session's list is asked for, never from a cache
  // (the answer after a rating must not hold the movie rated). A returning person's list is there on load.
  async function sessionPicks(list, seq) {
    if (!session(rated.length > 0)) { $("picks-title").hidden = true; clear(list); return; }
    if (rated.length) { $("picks-title").hidden = false; loading(list); }
    let unsent = null;
    try { await sendRatings(); } catch (e) { unsent = e; }
    try {
      const body = await api("sessions/" + session(false) + "/recommendations?n=10", { cache: "no-store" });
      if (seq !== picksSeq) return;
      banner(unsent && unsentNote(unsent));
      showSessionPicks(list, body);
    } catch (e) { if (seq === picksSeq) { clear(list); banner(e); } }
  }

  // The session's list, once it holds something of the person's (a new session's is the popular list, shown below).
  function showSessionPicks(list, body) {
    const shown = rated.length > 0 || body.source !== "popular";
    $("picks-title").hidden = !shown;
    if (!shown) { clear(list); return; }
    fill(list, body.items, "Nothing to suggest yet: rate a movie you liked.", true, body.recommendation_id);
    list.dataset.recommendationId = body.recommendation_id;
    list.dataset.variant = body.variant;
    track(body.items.map((m) => event("impression", m.movie_id, { recommendation_id: body.recommendation_id })));
  }

  async function refreshPicks() {
    renderRated();
    const list = $("picks");
    const seq = ++picksSeq;
    if (EVENTS) return sessionPicks(list, seq);
    $("picks-title").hidden = !rated.length;
    if (!rated.length) { clear(list); return; }
    loading(list);
    try {
      const body = await api("recommendations?n=10&ratings=" + rated.map((r) => r.movie_id + ":" + r.stars).join(","));
      if (seq !== picksSeq) return;
      banner(null);
      fill(list, body.items, "Nothing to suggest yet: rate a movie you liked.", true);
    } catch (e) { if (seq === picksSeq) { clear(list); banner(e); } }
  }

  // A new session from here on, and no ratings in this browser; what was sent stays stored under an id nobody holds.
  $("forget").addEventListener("click", () => {
    try { localStorage.removeItem(SESSION_KEY); } catch (e) { /* private mode */ }
    sid = null;
    rated = [];
    saveRated();
    refreshPicks();
  });

  $("stars").addEventListener("change", () => { $("rate").disabled = !$("stars").value; });
  $("rate").addEventListener("click", () => {
    if (!current || !$("stars").value) return;
    const value = Number($("stars").value);
    const entry = { movie_id: current.movie_id, title: label(current), stars: value };
    if (EVENTS && currentFrom) entry.from = currentFrom;  // the recommendation_id its rating event carries
    // rating a movie again makes it the latest: the list stays in the order rated, as the API reads it
    rated = rated.filter((r) => r.movie_id !== current.movie_id);
    rated.push(entry);
    rated = rated.slice(-50);
    saveRated();
    $("rate").textContent = "Update rating";
    refreshPicks();
  });

  // --- I am user N --------------------------------------------------------------------------
  // The form is novalidate: an id the input's min="1" refuses (0, -3, 1.5) gets this note, never the browser's bubble
  // over the previous user's note.
  async function showUser() {
    const raw = $("user").value.trim(), note = $("user-note"), list = $("user-picks"), button = $("user-show");
    const seq = ++userSeq;
    if (!/^[1-9][0-9]*$/.test(raw)) {
      $("user").setAttribute("aria-invalid", "true");
      note.textContent = "Give a user id: a whole number from 1.";
      clear(list);
      button.disabled = false;
      return;
    }
    $("user").removeAttribute("aria-invalid");
    const genre = $("user-genre").value;
    button.disabled = true;
    note.textContent = "Loading picks for user " + raw + "…";
    loading(list);
    try {
      const body = await api("users/" + raw + "/recommendations?n=10" + (genre ? "&genre=" + encodeURIComponent(genre) : ""));
      if (seq !== userSeq) return;
      banner(null);
      note.textContent = body.source === "personal"
        ? "Picks for user " + raw + (body.genre ? " in " + body.genre : "") + ", with the movies they rated that led there."
        : "User " + raw + " is not in this build, so here is the popular list" + (body.genre ? " for " + body.genre : "") + ".";
      fill(list, body.items, "None of this user's picks is in " + (body.genre || "this genre") + ".", true);
    } catch (e) {
      if (seq !== userSeq) return;
      clear(list);
      note.textContent = e.status === 422 ? e.message : "";
      if (e.status !== 422) banner(e);
    } finally {
      if (seq === userSeq) button.disabled = false;
    }
  }
  $("user-form").addEventListener("submit", (e) => { e.preventDefault(); showUser(); });
  $("user-genre").addEventListener("change", () => { if ($("user").value.trim()) showUser(); });

  // --- popular and the build ----------------------------------------------------------------
  async function showPopular() {
    const genre = $("popular-genre").value, list = $("popular"), seq = ++popularSeq;
    loading(list);
    try {
      const body = await api("popular?n=10" + (genre ? "&genre=" + encodeURIComponent(genre) : ""));
      if (seq === popularSeq) fill(list, body.items, "No popular movies in this genre.", false);
    } catch (e) { if (seq === popularSeq) { clear(list); banner(e); } }
  }
  $("popular-genre").addEventListener("change", showPopular);

  async function showBuild() {
    try {
      const h = await api("health");
      const b = h.build;
      $("build").textContent = "Build: " + b.dataset_name + " · top-N model " + (b.topn_champion || "popularity") + " · built " +
        b.created_at.slice(0, 10) + " · " + h.counts.movies.toLocaleString() + " movies, " + h.counts.ratings.toLocaleString() +
        " ratings · schema " + h.schema_version + " · v" + b.package_version;
      const g = await api("genres");
      for (const sel of document.querySelectorAll("select.genres")) for (const name of g.genres) sel.append(el("option", { value: name, textContent: name }));
    } catch (e) {
      $("build").textContent = "Build: unavailable";
      banner(e);
    }
  }

  // Every part asks for its own data at once: a slow build lookup does not hold up the lists.
  function start() {
    for (let s = 5; s >= 0.5; s -= 0.5) $("stars").append(el("option", { value: String(s), textContent: stars(s) }));
    showBuild();
    showPopular();
    refreshPicks();
    const m = /^#movie=(\d+)$/.exec(location.hash);
    if (m) openMovie(Number(m[1]));
  }
  start();
})();
