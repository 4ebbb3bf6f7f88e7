"""A run's report.html, opened from the file system by headless Chromium
with no network, shows its parts: the three charts and the validation
predictions decoded (the page's own script writes each image's natural width
into the DOM on load), a table row per class with the latest validation's
IoU, and the resolved config.

usage: check_report_html.py RTSEG_TRAIN SOURCE_DIR
Exits 77 (skipped) where no chromium is installed (scripts/setup.sh installs it)."""
import html.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_run  # noqa: E402


class Dom(html.parser.HTMLParser):
    """The images, the IoU table's rows and the texts of elements with an id."""

    def __init__(self):
        super().__init__()
        self.images, self.rows, self.text, self._row, self._id = {}, [], {}, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images[a.get("id")] = a
        elif tag == "tr" and a.get("class") == "iou-row":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._row.append("")
        if "id" in a and tag != "img":
            self._id = a["id"]
            self.text[self._id] = ""

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if tag in ("p", "pre", "table"):
            self._id = None

    def handle_data(self, data):
        if self._row:
            self._row[-1] += data
        if self._id:
            self.text[self._id] += data


def main():
    rtseg_train, source_dir = sys.argv[1:3]
    chromium = next((shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)),
                    None)
    if chromium is None:
        print("skipped: no chromium installed (scripts/setup.sh installs Debian's chromium)")
        sys.exit(tiny_run.SKIP)
    work = tempfile.mkdtemp(prefix="cudaseg_check_html_")
    try:
        run = os.path.join(work, "run")
        tiny_run.train(rtseg_train, source_dir, run)
        page = os.path.join(run, "report.html")
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            f"--user-data-dir={os.path.join(work, 'profile')}", "--dump-dom", "file://" + page],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0 and "</html>" in r.stdout, f"chromium failed ({r.returncode}): {r.stderr[-2000:]}"
        dom = Dom()
        dom.feed(r.stdout)

        for id_ in ("chart-loss", "chart-miou", "chart-iou", "val-predictions"):
            assert id_ in dom.images, f"no <img id={id_}> in the rendered page"
            width = int(dom.images[id_].get("data-natural-width", "0"))
            assert width > 0, f"{id_} did not load (natural width {width})"
        status = dom.text.get("image-status", "")
        assert status == f"{len(dom.images)} of {len(dom.images)} images loaded", status

        with open(os.path.join(run, "metrics.jsonl")) as f:
            last_val = [r for r in map(json.loads, f) if r["type"] == "val"][-1]
        want = [[name, "n/a" if v is None else f"{v:.4f}"] for name, v in last_val["iou"].items()]
        assert dom.rows == want, f"IoU table {dom.rows}, metrics.jsonl {want}"
        assert len(dom.rows) == 8

        with open(os.path.join(run, "config.json")) as f:
            config = json.load(f)
        assert json.loads(dom.text["config"]) == config, "the page's config is not config.json"
        print(f"ok: {len(dom.images)} images decoded, {len(dom.rows)} class rows, the config; "
              f"summary: {dom.text.get('summary', '').strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
