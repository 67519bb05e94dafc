"""EchoZoom (CardiacCLIP): the video encoder sees the frame and zoomed crops of the left ventricle (`model.zoom`)."""
import numpy as np
import pytest
import torch
from torch import nn

from medclip_nb.core import ConfigError, load_config
from medclip_nb.video import echo_zoom, zoom_windows
from medclip_nb.fusion import EchoZoom, MultiScale
from medclip_nb.model import build_encoder, build_model, model_settings


def test_torch_views_match_the_numpy_echo_zoom():
    "The model's views and `video.echo_zoom`'s are the same windows of the frame (to resampling error)."
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    frame = (128 + 100 * np.sin(yy / 5.0) * np.cos(xx / 7.0)).astype(np.uint8)
    clip = np.repeat(frame[None, :, :, None], 3, -1).repeat(2, 0)           # T=2, 48×48×3
    zooms, center = (1.0, 0.5), (0.4, 0.53)
    ref, _ = echo_zoom(clip, 48, zooms, center=(center[0] * 48, center[1] * 48))
    x = torch.from_numpy(clip).permute(3, 0, 1, 2)[None].float()              # (1, 3, T, 48, 48)
    v = EchoZoom(nn.Identity(), zooms, center).views(x)                     # (2, 3, T, 48, 48)
    got = v.permute(0, 2, 3, 4, 1).numpy()                                  # (V, T, H, W, 3)
    assert np.abs(got[0] - ref[0]).max() < 1e-4
    assert np.abs(got[1] - ref[1].astype(float)).mean() < 3.0
    assert zoom_windows((48, 48), zooms, (19.2, 25.44)) == [(0, 0, 48), (7, 13, 24)]

def test_model_key_builds_echozoom_around_the_encoder():
    cfg = load_config("cardiacclip_lvef", ["model.zoom=[1.0, 0.6]", "model.multiscale=[1, 2]"])
    s = model_settings(cfg)
    enc = build_encoder("video", s)
    assert isinstance(enc, EchoZoom) and isinstance(enc.backbone, MultiScale) and enc.zooms == [1.0, 0.6]
    assert type(enc.backbone.backbone).__name__ == "Tiny3DCNN" and enc.out_dim == 4 * enc.backbone.backbone.out_dim
    plain = build_encoder("video", model_settings(load_config("cardiacclip_lvef")))
    assert type(plain).__name__ == "Tiny3DCNN"                                 # [1.0]: off, the default

def test_model_forward_with_echozoom():
    from medclip_nb.core import Sample, collate
    cfg = load_config("cardiacclip_lvef", ["model.zoom=[1.0, 0.6]", "model.embed_dim=32", "model.text_encoder=hash"])
    model = build_model(cfg).eval()
    batch = collate([Sample(c, c, {"video": torch.randn(3, 4, 32, 32)}, None, t) for c, t in (("a", 50.0), ("b", 60.0))])
    with torch.no_grad(): out = model(batch)
    assert out.prediction.shape == (2,) and torch.isfinite(out.prediction).all()
    assert out.frame_attention.shape == (2, 4)

@pytest.mark.parametrize("bad, msg", [("model.zoom=[1.0, 1.5]", r"model.zoom .*in \(0, 1\]"),
                                      ("model.zoom_center=[0.4]", r"model.zoom_center .*\(y, x\)")])
def test_bad_zoom_settings(bad, msg):
    with pytest.raises(ConfigError, match=msg):
        build_encoder("video", model_settings(load_config("cardiacclip_lvef", ["model.zoom=[1.0, 0.6]", bad])))
