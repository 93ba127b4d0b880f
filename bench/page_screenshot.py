"""The screenshot of the page (docs/page.png: the README and the site's Getting started show it): `latentlens serve`
on 127.0.0.1, Debian's headless Chromium (Playwright), three movies rated, the Godfather's card open, saved as a PNG.

    python bench/page_screenshot.py ARTIFACT docs/page.png [--width 1100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import docs_results

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# No updates, sync or QUIC probes: the screenshot's page talks to 127.0.0.1 only.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions"]


@contextmanager
def serving(artifact: Path, tmp_dir: Path, timeout_s: float = 60):
    """`latentlens serve` on a free 127.0.0.1 port until /health answers; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "latentlens", "serve", "--db", str(artifact),
                             "--host", "127.0.0.1", "--port", str(port)],
                            env={**os.environ, "LATENTLENS_TMP_DIR": str(tmp_dir)}, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"latentlens serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url}/health did not answer 200 within {timeout_s:.0f} s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, serving(Path(args.artifact), Path(tmp)) as url:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": 900})
            page.goto(url + "/")
            page.wait_for_selector("#popular li button")
            for query, title, stars in (("goodfellas", "Goodfellas (1990)", "4.5"),
                                        ("toy story", "Toy Story (1995)", "1"),
                                        ("godfather", "The Godfather (1972)", "5")):
                page.fill("#q", query)
                page.wait_for_selector(f"#hits li[role=option]:has-text('{title}')")
                page.locator(f"#hits li[role=option]:has-text('{title}')").first.dispatch_event("mousedown")
                page.wait_for_selector(f"#movie-title:has-text('{title}')")
                page.select_option("#stars", stars)
                page.click("#rate")
            page.wait_for_selector("#picks li .why")
            page.fill("#user", "1")
            page.click("#user-form button")
            page.wait_for_selector("#user-picks li .why")
            page.screenshot(path=args.out, full_page=True, type="png")
            browser.close()
    from PIL import Image  # a 64-colour palette keeps the screenshot small; the page is flat colours

    Image.open(args.out).convert("RGB").quantize(colors=64).save(args.out, optimize=True)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
