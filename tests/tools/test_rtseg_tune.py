#!/usr/bin/python3
"""Tests of tools/rtseg_tune.py (issue 19's hyper-parameter search).

    test_rtseg_tune.py RTSEG_TRAIN

Runs a three-trial search with the real rtseg_train on a tiny synthetic
config, checks the study and best.json, then resumes the study with two more
trials. A fake rtseg_train (a Python script writing metrics.jsonl at a pace
the test controls) shows that a pruned trial's run is killed. Exits 77
(skipped for CTest) when Optuna is missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

try:
    import optuna
except ImportError:
    print("SKIPPED: python3-optuna is not installed (apt-get install python3-optuna)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TUNE = os.path.join(ROOT, "tools", "rtseg_tune.py")
RTSEG_TRAIN = None

TINY = {
    "model": {"name": "fpenet", "num_classes": 3},
    "data": {"dataset": "synthetic", "num_classes": 3, "train_size": 8, "val_size": 2, "image_size": [32, 32],
             "workers": 0},
    "augment": {"crop": [32, 32], "scale": [1.0, 1.0], "flip": False},
    "optimizer": {"type": "sgd", "lr": 0.01, "momentum": 0.9},
    "train": {"device": "cpu", "iters": 6, "batch_size": 2, "log_interval": 2, "val_interval": 2,
              "ckpt_interval": 6},
}


def tune(*args, check=True):
    p = subprocess.run([sys.executable, TUNE, *args], capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"rtseg_tune exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def val_mious(out):
    mious = []
    with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") == "val":
                mious.append(r["miou"])
    return mious


class RealSearch(unittest.TestCase):
    def test_three_trials_then_resume(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "tiny.json")
            space = os.path.join(tmp, "space.json")
            study_dir = os.path.join(tmp, "study")
            with open(config, "w") as f:
                json.dump(TINY, f)
            with open(space, "w") as f:
                json.dump({"optimizer.lr": {"log_uniform": [1e-3, 1e-1]},
                           "optimizer.momentum": {"uniform": [0.5, 0.95]},
                           "train.batch_size": {"choice": [2, 4]},
                           "schedule.warmup_iters": {"int": [0, 2]},
                           "augment.scale": {"choice": [[1.0, 1.0], [0.75, 1.25]]}}, f)
            storage = "sqlite:///" + os.path.join(tmp, "search.db")
            common = [config, "--space", space, "--out", study_dir, "--storage", storage, "--study-name", "tiny",
                      "--rtseg-train", RTSEG_TRAIN, "--seed", "3", "--poll", "0.1"]
            tune(*common, "--trials", "3")

            study = optuna.load_study(study_name="tiny", storage=storage)
            done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
            self.assertEqual(len(study.trials), 3)
            self.assertEqual(len(done), 3)
            for t in done:
                mious = val_mious(t.user_attrs["out"])
                # Validation at steps 2, 4 and 6, each reported while the run went.
                self.assertEqual(sorted(t.intermediate_values), [2, 4, 6])
                self.assertEqual([t.intermediate_values[s] for s in (2, 4, 6)], mious)
                self.assertEqual(t.value, max(mious))
            self.assertEqual(study.best_trial.value, max(t.value for t in done))

            with open(os.path.join(study_dir, "best.json")) as f:
                best = json.load(f)
            self.assertEqual(best["best_trial"], study.best_trial.number)
            self.assertEqual(best["miou"], study.best_trial.value)
            # Lists are chosen by their JSON text and written back as values.
            self.assertEqual(best["params"], dict(study.best_trial.params,
                                                  **{"augment.scale": json.loads(
                                                      study.best_trial.params["augment.scale"])}))
            self.assertEqual(best["config"]["augment"]["scale"], best["params"]["augment.scale"])
            # The full resolved config, with the trial's values in it.
            self.assertEqual(best["config"]["optimizer"]["lr"], best["params"]["optimizer.lr"])
            self.assertEqual(best["config"]["train"]["batch_size"], best["params"]["train.batch_size"])
            self.assertIn("policy", best["config"]["schedule"])
            first = {t.number: (t.params, t.value) for t in study.trials}

            tune(*common, "--trials", "2")
            study = optuna.load_study(study_name="tiny", storage=storage)
            self.assertEqual(len(study.trials), 5)
            self.assertEqual({t.number: (t.params, t.value) for t in study.trials if t.number in first}, first)
            self.assertEqual(sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials), 5)
            self.assertEqual(study.best_trial.value, max(t.value for t in study.trials))
            with open(os.path.join(study_dir, "best.json")) as f:
                self.assertEqual(json.load(f)["trials"], 5)


FAKE_TRAIN = textwrap.dedent("""\
    #!/usr/bin/python3
    # Stands in for rtseg_train: validation mIoU fake.miou at steps 1..10, one
    # every 0.3 s; writes 'finished' after the last.
    import json, os, sys, time
    args = sys.argv[1:]
    out = args[args.index("--out") + 1]
    sets = dict(args[i + 1].split("=", 1) for i in range(len(args)) if args[i] == "--set")
    miou = json.loads(sets["fake.miou"])
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"fake": {"miou": miou}}, f)
    with open(os.path.join(out, "pid"), "w") as f:
        f.write(str(os.getpid()))
    for step in range(1, 11):
        with open(os.path.join(out, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"type": "val", "step": step, "miou": miou}) + "\\n")
        time.sleep(0.3)
    open(os.path.join(out, "finished"), "w").close()
    """)


class FakeTrainer(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.train = os.path.join(d, "fake_train")
        with open(self.train, "w") as f:
            f.write(FAKE_TRAIN)
        os.chmod(self.train, 0o755)
        self.config = os.path.join(d, "c.json")
        with open(self.config, "w") as f:
            f.write("{}")
        self.out = os.path.join(d, "study")

    def tearDown(self):
        self.tmp.cleanup()

    def space(self, name, miou):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            json.dump({"fake.miou": {"uniform": [miou, miou]}}, f)
        return path

    def test_a_trial_below_the_median_is_pruned_and_its_run_killed(self):
        common = [self.config, "--out", self.out, "--rtseg-train", self.train, "--prune-startup", "1",
                  "--poll", "0.05"]
        tune(*common, "--space", self.space("good.json", 0.8), "--trials", "1")
        p = tune(*common, "--space", self.space("bad.json", 0.1), "--trials", "1")
        self.assertIn("trial 1 pruned at step", p.stderr)
        study = optuna.load_study(study_name="c", storage="sqlite:///" + os.path.join(self.out, "study.db"))
        self.assertEqual([t.state for t in study.trials],
                         [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED])
        pruned = os.path.join(self.out, "trial_1")
        self.assertFalse(os.path.exists(os.path.join(pruned, "finished")))
        with open(os.path.join(pruned, "pid")) as f:
            pid = int(f.read())
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)
        with open(os.path.join(self.out, "best.json")) as f:
            self.assertEqual(json.load(f)["best_trial"], 0)

    def test_clear_errors(self):
        bad = os.path.join(self.tmp.name, "bad.json")
        with open(bad, "w") as f:
            json.dump({"optimizer.lr": {"loguniform": [1e-4, 1e-1]}}, f)
        p = tune(self.config, "--space", bad, "--out", self.out, "--rtseg-train", self.train, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("'optimizer.lr': unknown kind 'loguniform'; kinds: uniform, log_uniform, int, choice",
                      p.stderr)

        # A copy of the tool where no build folder is beside its tools/.
        alone = os.path.join(self.tmp.name, "alone", "tools")
        os.makedirs(alone)
        shutil.copy(TUNE, alone)
        env = dict(os.environ, PATH=os.path.dirname(sys.executable))
        env.pop("RTSEG_TRAIN", None)
        p = subprocess.run([sys.executable, os.path.join(alone, "rtseg_tune.py"), self.config, "--space",
                            self.space("s.json", 0.5), "--out", self.out], capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 2)
        self.assertIn("rtseg_tune: rtseg_train not found: give --rtseg-train PATH", p.stderr)

        p = tune(self.config, "--space", self.space("s.json", 0.5), "--out", self.out, "--rtseg-train",
                 os.path.join(self.tmp.name, "missing"), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--rtseg-train " + os.path.join(self.tmp.name, "missing") + ": not an executable file",
                      p.stderr)

    def test_a_failing_run_is_a_failed_trial_with_its_message(self):
        with open(self.train, "w") as f:
            f.write("#!/bin/sh\necho 'rtseg_train: c.json: config: unknown key fake.miou' >&2\nexit 1\n")
        p = tune(self.config, "--space", self.space("s.json", 0.5), "--out", self.out, "--rtseg-train",
                 self.train, "--trials", "2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no trial completed", p.stderr)
        self.assertIn("rtseg_train exited 1: rtseg_train: c.json: config: unknown key fake.miou", p.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_rtseg_tune.py RTSEG_TRAIN")
    RTSEG_TRAIN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
