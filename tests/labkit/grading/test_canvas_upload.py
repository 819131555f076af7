"""Canvas upload (labkit.grading.canvas_upload) against a fake Canvas on 127.0.0.1: a dry run sends nothing,
--apply sends only what changed, and a second run sends nothing at all. Never a real Canvas."""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

pytest.importorskip("canvasapi")
pytestmark = pytest.mark.filterwarnings("ignore:Canvas may respond unexpectedly")
from labkit.grading.batch import grade_folder  # noqa: E402
from labkit.grading.canvas_upload import upload  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course_class as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
COURSE, ASSIGNMENT, TOKEN = 7, 4242, "fake-token-for-the-loopback-server"


class FakeCanvas(ThreadingHTTPServer):
    """The few Canvas API endpoints canvasapi calls for an upload, bound to 127.0.0.1 only."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.grades = {"101": {"score": 4.0, "comments": []}, "102": {"score": 1.0, "comments": []}}
        self.puts: list[dict] = []
        self.unauthorised = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, value, status=200):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.server.unauthorised += 1
            self._reply({"errors": [{"message": "Invalid access token."}]}, 401)
            return False
        return True

    def _submission(self, user: str) -> dict:
        entry = self.server.grades.setdefault(user, {"score": None, "comments": []})
        return {"user_id": int(user), "assignment_id": ASSIGNMENT, "score": entry["score"],
                "grade": None if entry["score"] is None else str(entry["score"]),
                "submission_comments": [{"comment": c} for c in entry["comments"]]}

    def do_GET(self):
        if not self._authorised():
            return
        path = urlparse(self.path).path.rstrip("/")
        if path == f"/api/v1/courses/{COURSE}":
            return self._reply({"id": COURSE, "name": "Deep learning"})
        if path == f"/api/v1/courses/{COURSE}/assignments/{ASSIGNMENT}":
            return self._reply({"id": ASSIGNMENT, "course_id": COURSE, "name": "Lab 98", "points_possible": 4})
        if path == f"/api/v1/courses/{COURSE}/assignments/{ASSIGNMENT}/submissions":
            users = sorted(set(self.server.grades) | {"101", "102", "103", "104", "105", "106", "107"})
            return self._reply([self._submission(u) for u in users])
        self._reply({"errors": [{"message": "not found"}]}, 404)

    def do_PUT(self):
        if not self._authorised():
            return
        user = urlparse(self.path).path.rstrip("/").rsplit("/", 1)[-1]
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        self.server.puts.append({"user": user, **{k: v[0] for k, v in form.items()}})
        entry = self.server.grades.setdefault(user, {"score": None, "comments": []})
        if "submission[posted_grade]" in form:
            entry["score"] = float(form["submission[posted_grade]"][0])
        if "comment[text_comment]" in form:
            entry["comments"].append(form["comment[text_comment]"][0])
        self._reply(self._submission(user))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("upload")
    tests = C.write_lab(base)
    out = base / "out"
    grade_folder(C.canvas_zip(base / "canvas.zip"), C.LAB, out, root=ROOT, jobs=2, tests_dir=tests,
                 roster=C.canvas_roster(base / "roster.csv"), policy=base / "policy.toml", log=lambda *a: None)
    return out


@pytest.fixture
def canvas(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("LABKIT_TEST_CANVAS_TOKEN", TOKEN)
    server = FakeCanvas()
    yield server
    server.shutdown()
    server.server_close()


def test_dry_run_shows_the_diff_and_sends_nothing(graded, canvas):
    lines = []
    updates = upload(graded, canvas.url, COURSE, ASSIGNMENT, "LABKIT_TEST_CANVAS_TOKEN", log=lines.append)
    assert canvas.puts == []
    by_user = {u.user_id: u for u in updates}
    assert (by_user["102"].current, by_user["102"].new) == ("1", "2") and by_user["104"].new == "3.2"
    assert "dry run" in lines[-1] and "to update" in lines[0]


def test_apply_sends_grades_and_comments_once(graded, canvas):
    upload(graded, canvas.url, COURSE, ASSIGNMENT, "LABKIT_TEST_CANVAS_TOKEN", apply=True, log=lambda *a: None)
    sent = {p["user"]: p for p in canvas.puts}
    assert sent["104"]["submission[posted_grade]"] == "3.2" and "late penalty" in sent["104"]["comment[text_comment]"]
    assert "107" not in sent  # no submission: Canvas keeps what it has
    canvas.puts.clear()
    upload(graded, canvas.url, COURSE, ASSIGNMENT, "LABKIT_TEST_CANVAS_TOKEN", apply=True, log=lambda *a: None)
    assert canvas.puts == []  # nothing changed since: nothing is sent


def test_the_token_comes_from_the_environment_only(graded, canvas, monkeypatch):
    monkeypatch.delenv("LABKIT_TEST_CANVAS_TOKEN")
    with pytest.raises(ValueError, match="environment variable LABKIT_TEST_CANVAS_TOKEN"):
        upload(graded, canvas.url, COURSE, ASSIGNMENT, "LABKIT_TEST_CANVAS_TOKEN", log=lambda *a: None)
    assert canvas.puts == [] and canvas.unauthorised == 0
