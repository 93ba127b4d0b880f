"""The README's screenshot of the page: `latentlens serve` on 127.0.0.1, Debian's headless Chromium
(Playwright), three movies rated, the Godfather's card open, saved as a PNG.

    python bench/page_screenshot.py ARTIFACT OUT.png [--width 1100]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.page.conftest import CHROMIUM, CHROMIUM_ARGS, free_port
from tests.reliability.serve_process import Server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(Path(args.artifact), free_port(), Path(tmp))
        try:
            srv.wait_healthy()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": args.width, "height": 900})
                page.goto(srv.url + "/")
                page.wait_for_selector("#popular li button")
                for query, title, stars in (("goodfellas", "Goodfellas (1990)", "4.5"), ("toy story", "Toy Story (1995)", "1"),
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
        finally:
            srv.stop()
    from PIL import Image  # a 64-colour palette keeps the README's image small; the page is flat colours

    Image.open(args.out).convert("RGB").quantize(colors=64).save(args.out, optimize=True)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
