"""Command line for the instructor tools: ``python -m labkit {student,check,colab,run,grade,regrade,merge,upload,release,publish}``.

To add a subcommand (e.g. ``release`` or ``grade``), write ``_add_<name>(subparsers)`` that creates
its parser and sets ``func`` (a callable taking the parsed args and returning the exit code), then
append it to ``SUBCOMMANDS``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .authoring.colab import update_colab_headers
from .authoring.nbfiles import NotebookError, list_labs
from .authoring.notebooks import check_notebooks, generate_students


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _run_student(args: argparse.Namespace) -> int:
    """Generate student notebooks; one line per notebook; 1 if any was refused."""
    results = generate_students(args.root, args.names or None, force=args.force)
    for status, path, message in results:
        print(f"{status:<9} {_relative(path, args.root)}" + (f": {message}" if message else ""))
    if not results:
        print(f"no *_solution.ipynb notebooks in {args.root / 'notebooks'}")
    failed = any(status == "refused" for status, _, _ in results)
    if not args.no_record:
        from .authoring.expected import expected_problem, record_expected
        for name in args.names or list_labs(args.root):
            if expected_problem(args.root, name) is None:
                continue
            print(f"{'recording':<9} the public expected values of {name} (runs its solution in smoke mode) ...",
                  flush=True)
            try:
                print(f"{'recorded':<9} {_relative(record_expected(args.root, name), args.root)}")
            except NotebookError as err:
                print(f"{'refused':<9} {err}")
                failed = True
    return 1 if failed else 0


def _run_check(args: argparse.Namespace) -> int:
    """List every problem in the notebooks; 1 if there is any."""
    problems = check_notebooks(args.root)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {len(list_labs(args.root))} lab(s)")
    return 1 if problems else 0


def _run_colab(args: argparse.Namespace) -> int:
    """Write/refresh the Colab header cells of the solution notebooks."""
    for status, path in update_colab_headers(args.root, args.names or None):
        print(f"{status:<9} {_relative(path, args.root)}")
    return 0


def _run_run(args: argparse.Namespace) -> int:
    """Execute the solution notebooks (papermill) into --out, or in place with --inplace."""
    from .authoring.execute import run_all
    run_all(args.root.resolve(), (args.root / args.out).resolve(), smoke=args.smoke,
            inplace=args.inplace, names=args.names or None)
    return 0


def _add_run(subparsers) -> None:
    p = subparsers.add_parser("run", help="execute every solution notebook (full settings) into results/executed")
    p.add_argument("names", nargs="*", metavar="NAME", help="labs like 02_week13_mnist (default: all)")
    p.add_argument("--out", default="results/executed", help="folder for the executed copies")
    p.add_argument("--smoke", action="store_true", help="run with SMOKE=True, DATA_SOURCE='offline'")
    p.add_argument("--inplace", action="store_true", help="store fresh outputs in the solution notebooks")
    p.set_defaults(func=_run_run)


def _add_student(subparsers) -> None:
    p = subparsers.add_parser("student", help="generate NN_name_student.ipynb from NN_name_solution.ipynb")
    p.add_argument("names", nargs="*", metavar="NAME", help="labs like 01_convolution (default: all)")
    p.add_argument("--force", action="store_true", help="overwrite student notebooks edited by hand")
    p.add_argument("--no-record", action="store_true",
                   help="do not re-record labhelpers/checks/expected/<lab>.json for labs whose code changed")
    p.set_defaults(func=_run_student)


def _add_check(subparsers) -> None:
    p = subparsers.add_parser("check", help="fail on drift, leaked solutions, outputs, missing header/parameters")
    p.set_defaults(func=_run_check)


def _add_colab(subparsers) -> None:
    p = subparsers.add_parser("colab", help="write/refresh the Colab badge and set-up cells of solution notebooks")
    p.add_argument("names", nargs="*", metavar="NAME", help="labs like 01_convolution (default: all)")
    p.set_defaults(func=_run_colab)


def _run_grade(args: argparse.Namespace) -> int:
    """Grade a folder of submissions in sandboxes; 0 when every file got a record."""
    from .grading.batch import grade_folder, load_parameters
    limits = {key: value for key, value in (("cell_timeout", args.cell_timeout),
                                            ("notebook_timeout", args.notebook_timeout),
                                            ("memory_mb", args.memory_mb)) if value is not None}
    try:
        report = grade_folder(args.submissions, args.lab, args.out, root=args.root, jobs=args.jobs,
                              tests_dir=args.tests, isolation=args.isolation,
                              parameters=load_parameters(args.param) if args.param else None,
                              limits=limits, seed=args.seed, force=args.force, roster=args.roster,
                              policy=args.policy, lms=args.format, shard=args.shard, archives=args.archive,
                              template=args.template)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0 if report["originals_unchanged"] else 1


def _run_regrade(args: argparse.Namespace) -> int:
    """Regrade a graded batch with the current hidden tests (same probes unless --fresh)."""
    from .grading.regrade import regrade
    try:
        regrade(args.out, root=args.root, who=args.student, fresh=args.fresh, jobs=args.jobs, isolation=args.isolation)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _add_regrade(subparsers) -> None:
    p = subparsers.add_parser("regrade", help="regrade OUT with the current hidden tests; writes OUT/regrade_diff.csv")
    p.add_argument("out", type=Path, metavar="OUT", help="the --out folder of an earlier grade")
    p.add_argument("--student", help="only this student (record name, roster id, email or name)")
    p.add_argument("--fresh", action="store_true", help="fresh random probes instead of each submission's own")
    p.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at the same time (default 1)")
    p.add_argument("--isolation", default="auto", choices=["auto", "root-namespaces", "user-namespaces", "none"])
    p.set_defaults(func=_run_regrade)


def _run_merge(args: argparse.Namespace) -> int:
    """Merge the shard folders of one batch into one."""
    from .grading.merge import merge_parts
    try:
        merge_parts(args.out, args.parts, force=args.force)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _add_merge(subparsers) -> None:
    p = subparsers.add_parser("merge", help="merge the --out folders of grade --shard K/N runs into one gradebook")
    p.add_argument("parts", type=Path, nargs="+", metavar="PART", help="the shard folders (all N of them)")
    p.add_argument("--out", type=Path, required=True, help="the merged folder (new or empty)")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out folder")
    p.set_defaults(func=_run_merge)


def _run_upload(args: argparse.Namespace) -> int:
    """Show (and with --apply send) the grades of OUT to a Canvas assignment."""
    from .grading.canvas_upload import upload
    try:
        upload(args.out, args.canvas_url, args.course, args.assignment, args.token_env, apply=args.apply)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _add_upload(subparsers) -> None:
    p = subparsers.add_parser("upload", help="upload OUT's grades and comments to Canvas (a dry-run diff first)")
    p.add_argument("out", type=Path, metavar="OUT", help="the --out folder of a grade run")
    p.add_argument("--canvas-url", required=True, help="your Canvas, e.g. https://canvas.school.edu")
    p.add_argument("--course", type=int, required=True, help="the Canvas course id")
    p.add_argument("--assignment", type=int, required=True, help="the Canvas assignment id")
    p.add_argument("--token-env", default="CANVAS_TOKEN", help="environment variable holding the API token")
    p.add_argument("--apply", action="store_true", help="send the changes (without it: only the diff)")
    p.set_defaults(func=_run_upload)


def _add_grade(subparsers) -> None:
    p = subparsers.add_parser("grade", help="grade submitted notebooks in sandboxes with the lab's hidden tests")
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                   help="folder of .ipynb files, or the zip/folder Canvas, Moodle or Gradescope gave you")
    p.add_argument("--roster", type=Path, help="the LMS's roster CSV (Canvas gradebook export, Moodle user export)")
    p.add_argument("--policy", type=Path, help="policy.toml: due date, grace, late penalty, extensions")
    p.add_argument("--format", default="auto", choices=["auto", "canvas", "moodle", "gradescope", "plain"],
                   help="the download's layout (default: recognised)")
    p.add_argument("--shard", metavar="K/N", help="grade only the K-th of N slices (then: labkit merge)")
    p.add_argument("--archive", type=Path, action="append", default=[],
                   help="earlier years' submissions or graded folders for the similarity check (repeatable)")
    p.add_argument("--template", default="auto", choices=["auto", "on", "off"],
                   help="fork sandboxes from a pre-imported template process (default: for batches)")
    p.add_argument("--lab", required=True, help="lab name without _solution/_student, e.g. 01_cnn_arithmetic")
    p.add_argument("--out", type=Path, required=True, help="folder for the JSON records, feedback and gradebook.csv")
    p.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at the same time (default 1)")
    p.add_argument("--tests", type=Path, default=None, help="folder of hidden tests (default: ROOT/grading)")
    p.add_argument("--isolation", default="auto", choices=["auto", "root-namespaces", "user-namespaces", "none"],
                   help="sandbox isolation (default: the best this machine allows)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a notebook parameter (default: the lab's grading PARAMETERS)")
    p.add_argument("--cell-timeout", type=float, help="seconds per cell (default: the lab's LIMITS)")
    p.add_argument("--notebook-timeout", type=float, help="seconds per notebook run (default: the lab's LIMITS)")
    p.add_argument("--memory-mb", type=int, help="address-space limit per sandbox in MiB")
    p.add_argument("--seed", type=int, help="fixed probe seed (default: fresh random inputs per submission)")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out folder")
    p.set_defaults(func=_run_grade)


def _run_release(args: argparse.Namespace) -> int:
    """Build the student release folder."""
    from .authoring.release import build_release
    try:
        written = build_release(args.root, args.out, force=args.force)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"release written to {args.out} ({len(written)} files)")
    return 0


def _add_release(subparsers) -> None:
    p = subparsers.add_parser("release", help="build what students receive: student notebooks, labhelpers, data")
    p.add_argument("out", type=Path, metavar="OUT_DIR", help="folder to create (must be empty or absent)")
    p.add_argument("--force", action="store_true", help="replace the contents of a non-empty OUT_DIR")
    p.set_defaults(func=_run_release)


def _run_publish(args: argparse.Namespace) -> int:
    """Commit the release to a clone of the student repository (and push it with --push)."""
    from .authoring.colab import repository_settings
    from .authoring.publish import PublishError, describe, publish
    try:
        result = publish(args.root, args.student_repo, push=args.push)
    except (PublishError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(describe(result, args.student_repo, repository_settings(args.root).student))
    return 0


def _add_publish(subparsers) -> None:
    p = subparsers.add_parser("publish", help="commit the release to a clone of the student repository (--push)")
    p.add_argument("student_repo", metavar="STUDENT_REPO", help="URL or path of the student repository")
    p.add_argument("--push", action="store_true", help="push the commit (otherwise it stays in build/publish/)")
    p.set_defaults(func=_run_publish)


SUBCOMMANDS = [_add_student, _add_check, _add_colab, _add_run, _add_grade, _add_regrade, _add_merge, _add_upload,
               _add_release, _add_publish]


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with one subparser per entry of ``SUBCOMMANDS``."""
    parser = argparse.ArgumentParser(prog="python -m labkit", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: current folder)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; return its exit code."""
    args = build_parser().parse_args(argv)
    if not (args.root / "notebooks").is_dir():
        print(f"error: no notebooks/ folder in {args.root.resolve()}; run from the repository root or pass --root",
              file=sys.stderr)
        return 1
    try:
        return args.func(args)
    except NotebookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
