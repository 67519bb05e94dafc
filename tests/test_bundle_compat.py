"""An analysis bundle written before the redesign (bundle schema v1, by the evaluation code of cd7fdad on a tiny
`clinicalclip_gait` run) still opens: the reader, every dashboard view and the case view read it."""
import shutil
from pathlib import Path
import panel as pn
from medclip_nb.bundle import BUNDLE_VERSION, find_runs, load_bundle
from medclip_nb.dashboard import Dashboard, DASHBOARD_VIEWS
from medclip_nb.interpret import case_data

OLD = Path(__file__).with_name("fixtures") / "bundle_before_redesign"


def test_old_bundle_opens_in_the_dashboard(tmp_path):
    runs = shutil.copytree(OLD, tmp_path / "runs")
    found = find_runs([runs])
    assert list(found) == ["clinicalclip_gait"]
    b = load_bundle(found["clinicalclip_gait"])
    assert b.schema["version"] == BUNDLE_VERSION and len(b.predictions) and b.embeddings() is not None
    d = Dashboard([runs])
    for view in DASHBOARD_VIEWS:
        if view not in d.views: continue
        out = d.views[view]()
        alerts = [a.object for a in out.select(pn.pane.Alert) if a.alert_type == "danger"]
        assert not alerts, f"{view}: {alerts}"
    clip = b.predictions.clip_id.iloc[0]
    c = case_data(found["clinicalclip_gait"], clip)     # where the clip's video is gone, the case says so and still shows
    assert c.clip_id == clip and (c.frames is not None or c.frames_unavailable) and len(c.probs) == len(b.classes)
