"""`medclip demo` (#27 item 8) ends by saying what its number means: the test macro-F1 with its BCa interval, the
majority-class rate and the held-out subjects, read from the run's analysis bundle. Run here at tiny sizes; the demo's
own split (2 held-out subjects per class) is checked in nbs/95_cli.ipynb without rendering it."""
import json
from pathlib import Path

from medclip_nb.cli import demo_main, demo_headline

TINY = ["data.frames=4", "data.size=32", "data.batch_size=6", "model.embed_dim=32", "train.max_epochs=1"]


def test_demo_ends_with_its_headline(tmp_path, capsys):
    assert demo_main(["--out", str(tmp_path / "demo"), "--no-serve", "--subjects", "18", "--clips-per-subject", "1", *TINY]) == 0
    out = capsys.readouterr().out.rstrip().splitlines()
    gt = json.loads((tmp_path / "demo" / "data" / "ground_truth.json").read_text())["arguments"]
    assert (gt["subjects"], gt["clips_per_subject"]) == (18, 1)
    i = out.index("=== what the number means")
    analysis = tmp_path / "demo" / "runs" / "clinicalclip_gait" / "analysis"
    assert out[i + 1:] == demo_headline(analysis)            # the last lines printed
    m = json.loads((analysis / "metrics.json").read_text())
    assert out[i + 1].startswith(f"test macro-F1 {m['macro_f1']:.3f}, 95 % interval {m['macro_f1_ci_low']:.3f}–")
    assert out[i + 2].startswith(f"majority-class rate {m['majority_rate']:.3f}")
    assert out[i + 3].startswith(f"held-out test set: {m['subject_n']} subjects")
