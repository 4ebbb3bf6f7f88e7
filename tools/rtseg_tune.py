#!/usr/bin/python3
"""Hyper-parameter search for rtseg_train with Optuna.

Each trial is one rtseg_train run of CONFIG with the trial's values given as
--set overrides, in STUDYDIR/trial_<number>. While it runs, every validation
line of its metrics.jsonl is reported to Optuna as an intermediate value at
its step; a trial the pruner (MedianPruner) stops is killed. A trial's value
is the best validation mIoU of its run, and the study maximises it.

The study lives in an SQLite file (default STUDYDIR/study.db): running the
same command again adds --trials more trials to it, keeping the earlier ones.
At the end STUDYDIR/best.json holds the best trial: its number, mIoU,
parameters, the --set arguments that reproduce it, and its full resolved run
config (the config.json rtseg_train wrote for it).

The search space is a JSON object from config keys to one distribution each:
  {"optimizer.lr":      {"log_uniform": [1e-4, 1e-1]},
   "loss.ohem_thresh":  {"uniform": [0.5, 0.9]},
   "train.batch_size":  {"choice": [2, 4]},
   "data.image_size":   {"choice": [[64, 64], [96, 96]]},
   "schedule.warmup_iters": {"int": [0, 50]}}
Kinds: uniform [low, high], log_uniform [low, high] (low > 0), int [low, high]
(inclusive), choice [values...] (any JSON values).

Example:
  tools/rtseg_tune.py nets/stdc1.json --space space.json --out runs/tune --trials 20

Runs with Debian's python3-optuna (/usr/bin/python3); zh320's
optuna_search.py is the model. Exit status: 0 when at least one trial
completed, 1 when none did or a trial could not start, 2 for a usage error.
"""
import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

TOOL = "rtseg_tune"
KINDS = ("uniform", "log_uniform", "int", "choice")


class UsageError(Exception):
    pass


class Failure(Exception):
    pass


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_space(path):
    """Reads and checks the search space; returns [(key, kind, bounds_or_choices)]."""
    try:
        with open(path, encoding="utf-8") as f:
            space = json.load(f)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the search space ({e.strerror})")
    except ValueError as e:
        raise UsageError(f"{path}: not valid JSON ({e})")
    if not isinstance(space, dict) or not space:
        raise UsageError(f"{path}: expected a non-empty JSON object from config keys to distributions")
    out = []
    for key, dist in space.items():
        where = f"{path}: '{key}'"
        parts = key.split(".")
        if len(parts) < 2 or not all(parts):
            raise UsageError(f"{where}: expected a config key SECTION.KEY (e.g. optimizer.lr)")
        if not isinstance(dist, dict) or len(dist) != 1:
            raise UsageError(f"{where}: expected one distribution, e.g. {{\"uniform\": [0.5, 0.9]}}; kinds: "
                             + ", ".join(KINDS))
        (kind, arg), = dist.items()
        if kind not in KINDS:
            raise UsageError(f"{where}: unknown kind '{kind}'; kinds: " + ", ".join(KINDS))
        if kind == "choice":
            if not isinstance(arg, list) or not arg:
                raise UsageError(f"{where}: choice needs a non-empty list of values")
        else:
            if not isinstance(arg, list) or len(arg) != 2 or not all(is_number(v) for v in arg):
                raise UsageError(f"{where}: {kind} needs [low, high], two numbers")
            low, high = arg
            if low > high:
                raise UsageError(f"{where}: {kind} low {low} is above high {high}")
            if kind == "log_uniform" and low <= 0:
                raise UsageError(f"{where}: log_uniform needs low > 0, got {low}")
            if kind == "int" and not all(isinstance(v, int) for v in arg):
                raise UsageError(f"{where}: int needs integer bounds, got {arg}")
        out.append((key, kind, arg))
    return out


def suggest(trial, key, kind, arg):
    """The trial's value for one key, as the JSON value rtseg_train gets."""
    if kind == "uniform":
        return trial.suggest_float(key, float(arg[0]), float(arg[1]))
    if kind == "log_uniform":
        return trial.suggest_float(key, float(arg[0]), float(arg[1]), log=True)
    if kind == "int":
        return trial.suggest_int(key, arg[0], arg[1])
    # Optuna stores categorical choices of None, bool, int, float and str only:
    # other values (a [h, w] size) are chosen by their JSON text.
    if all(v is None or isinstance(v, (bool, int, float, str)) for v in arg):
        return trial.suggest_categorical(key, arg)
    return json.loads(trial.suggest_categorical(key, [json.dumps(v) for v in arg]))


def find_rtseg_train(given):
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise UsageError(f"--rtseg-train {given}: not an executable file")
        return given
    env = os.environ.get("RTSEG_TRAIN")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise UsageError(f"RTSEG_TRAIN={env}: not an executable file")
        return env
    found = shutil.which("rtseg_train")
    if found:
        return found
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for build in ("build", "build-cpu", "build-cuda"):
        candidate = os.path.join(root, build, "rtseg_train")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise UsageError("rtseg_train not found: give --rtseg-train PATH, set RTSEG_TRAIN, put it on PATH, "
                     "or build it in build/ (cmake -S . -B build && cmake --build build)")


class MetricsTail:
    """Reads the validation records a running rtseg_train appends to metrics.jsonl."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def new_validations(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        # A line still being written has no newline yet: it is read next time.
        end = data.rfind(b"\n") + 1
        self.offset += end
        found = []
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if (isinstance(record, dict) and record.get("type") == "val" and isinstance(record.get("step"), int)
                    and is_number(record.get("miou"))):
                found.append((record["step"], float(record["miou"])))
        return found


def stop(proc):
    """Ends a trial's run: SIGINT (rtseg_train stops after its step), then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def last_lines(path, n=3):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line.rstrip() for line in f if line.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def make_objective(args, space, train_bin, optuna):
    def objective(trial):
        values = {key: suggest(trial, key, kind, arg) for key, kind, arg in space}
        sets = [f"{key}={json.dumps(v)}" for key, v in values.items()]
        out = os.path.join(args.out, f"trial_{trial.number}")
        # A trial number is new to the study: a folder of that name is left
        # over from a study that was deleted, and its metrics would mix in.
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        trial.set_user_attr("out", out)
        trial.set_user_attr("set", sets)
        trial.set_user_attr("values", values)
        cmd = [train_bin, args.config]
        for s in args.set + sets:
            cmd += ["--set", s]
        cmd += ["--out", out]
        print(f"{TOOL}: trial {trial.number}: " + " ".join(sets), file=sys.stderr, flush=True)
        log = os.path.join(out, "train.log")
        metrics = MetricsTail(os.path.join(out, "metrics.jsonl"))
        best = None
        reported = set()
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                while True:
                    done = proc.poll() is not None
                    for step, miou in metrics.new_validations():
                        best = miou if best is None else max(best, miou)
                        if step in reported:
                            continue
                        reported.add(step)
                        trial.report(miou, step)
                        if not done and trial.should_prune():
                            stop(proc)
                            print(f"{TOOL}: trial {trial.number} pruned at step {step} (mIoU {miou:.4f})",
                                  file=sys.stderr, flush=True)
                            raise optuna.TrialPruned()
                    if done:
                        break
                    time.sleep(args.poll)
            finally:
                stop(proc)
        if proc.returncode != 0:
            raise Failure(f"trial {trial.number}: rtseg_train exited {proc.returncode}: {last_lines(log)} "
                          f"(log {log})")
        if best is None:
            raise Failure(f"trial {trial.number}: no validation mIoU in {metrics.path} "
                          "(is train.val_interval set and a validation set configured?)")
        print(f"{TOOL}: trial {trial.number}: best mIoU {best:.4f}", file=sys.stderr, flush=True)
        return best

    return objective


def write_summary(args, study, optuna):
    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    count = {s.name.lower(): sum(1 for t in trials if t.state == s)
             for s in (states.COMPLETE, states.PRUNED, states.FAIL, states.RUNNING)}
    complete = [t for t in trials if t.state == states.COMPLETE]
    if not complete:
        raise Failure(f"study '{study.study_name}': no trial completed ({len(trials)} trials: {count})")
    best = study.best_trial
    out = best.user_attrs.get("out", os.path.join(args.out, f"trial_{best.number}"))
    config_path = os.path.join(out, "config.json")
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise Failure(f"{config_path}: cannot read the best trial's config ({e})")
    summary = {"study": study.study_name, "storage": args.storage, "trials": len(trials), "states": count,
               "best_trial": best.number, "miou": best.value, "params": best.user_attrs.get("values", best.params),
               "set": best.user_attrs.get("set", []), "out": out, "config": config}
    path = os.path.join(args.out, "best.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    print(f"{TOOL}: study '{study.study_name}': {len(trials)} trials ({count['complete']} complete, "
          f"{count['pruned']} pruned, {count['fail']} failed); best trial {best.number}: mIoU {best.value:.4f} "
          f"with " + " ".join(summary["set"]) + f"; config in {path}")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="rtseg_tune.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", metavar="CONFIG.json", help="the run config every trial starts from")
    p.add_argument("--space", required=True, metavar="SPACE.json", help="the search space (config key -> distribution)")
    p.add_argument("--out", required=True, metavar="STUDYDIR", help="folder for the trials, the study and best.json")
    p.add_argument("--trials", type=int, default=20, help="trials to run in this invocation (default 20)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="start no new trial after this many seconds (default: none)")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna storage (default sqlite:///STUDYDIR/study.db)")
    p.add_argument("--study-name", default=None, help="study name (default: CONFIG's file name without .json)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an override for every trial, as rtseg_train's --set (repeatable)")
    p.add_argument("--rtseg-train", default=None, metavar="PATH",
                   help="the rtseg_train to run (default: $RTSEG_TRAIN, PATH, then build*/rtseg_train)")
    p.add_argument("--seed", type=int, default=None, help="seed of the TPE sampler (default: random)")
    p.add_argument("--no-prune", action="store_true", help="run every trial to its end")
    p.add_argument("--prune-startup", type=int, default=5, metavar="N",
                   help="MedianPruner prunes no trial before N trials completed (default 5)")
    p.add_argument("--poll", type=float, default=0.5, metavar="SECONDS",
                   help="how often metrics.jsonl is read (default 0.5)")
    args = p.parse_args(argv)
    if args.trials < 1:
        p.error("--trials must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        p.error("--timeout must be positive")
    if args.poll <= 0:
        p.error("--poll must be positive")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import optuna
    except ImportError:
        print(f"{TOOL}: needs Optuna: apt-get install python3-optuna, and run with /usr/bin/python3",
              file=sys.stderr)
        return 1
    try:
        if not os.path.isfile(args.config):
            raise UsageError(f"{args.config}: no such config file")
        space = load_space(args.space)
        train_bin = find_rtseg_train(args.rtseg_train)
    except UsageError as e:
        print(f"{TOOL}: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    if args.storage is None:
        args.storage = "sqlite:///" + os.path.abspath(os.path.join(args.out, "study.db"))
    if args.study_name is None:
        args.study_name = os.path.splitext(os.path.basename(args.config))[0]
    # The tool says itself what became of each trial; Optuna's own warnings
    # would repeat a failed trial's message with a traceback.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # The heartbeat lets a later invocation mark a trial whose search was
    # killed as failed instead of running for ever.
    storage = optuna.storages.RDBStorage(args.storage, heartbeat_interval=10, grace_period=30)
    pruner = optuna.pruners.NopPruner() if args.no_prune else optuna.pruners.MedianPruner(
        n_startup_trials=args.prune_startup)
    study = optuna.create_study(storage=storage, study_name=args.study_name, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=args.seed), pruner=pruner,
                                load_if_exists=True)
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        print(f"{TOOL}: study '{args.study_name}' in {args.storage} minimises; this tool maximises mIoU",
              file=sys.stderr)
        return 1
    objective = make_objective(args, space, train_bin, optuna)
    failures = []

    def run(trial):
        try:
            return objective(trial)
        except Failure as e:
            failures.append(str(e))
            print(f"{TOOL}: {e}", file=sys.stderr, flush=True)
            raise

    study.optimize(run, n_trials=args.trials, timeout=args.timeout, catch=(Failure,), gc_after_trial=True)
    try:
        write_summary(args, study, optuna)
    except Failure as e:
        print(f"{TOOL}: {e}" + (f"; first failure: {failures[0]}" if failures else ""), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
