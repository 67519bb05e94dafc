"Contract tests for medclip_nb.text and medclip_nb.encoders that the later model code relies on (kept tiny: 2 shared cores)."
import subprocess, sys
import pytest
import torch

from medclip_nb.core import Sample, collate, MissingModelError, ConfigError
from medclip_nb import encoders as E
from medclip_nb import text as T


def test_import_loads_no_transformers():
    "Importing the model modules must not import transformers or touch a model file (it happens at construction)."
    code = "import sys, medclip_nb.text, medclip_nb.encoders; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("hub_id", ["openai/clip-vit-base-patch32", "sentence-transformers/all-MiniLM-L6-v2"])
def test_hub_ids_are_never_downloaded(hub_id, tmp_path, monkeypatch):
    "A hub id given as a path is a missing local folder, not a download."
    monkeypatch.chdir(tmp_path)
    for make in (T.CLIPTextEncoder, T.HFTextEncoder, E.CLIPVisionEncoder, T.OpenCLIPTextEncoder, E.OpenCLIPVisionEncoder):
        with pytest.raises(MissingModelError, match="Nothing is fetched at run time"):
            make(hub_id)


def test_registry_names_and_errors():
    assert "tiny3d" in E.VIDEO_ENCODERS and "r3d_18" in E.VIDEO_ENCODERS and "frames:clip" in E.VIDEO_ENCODERS
    assert "frames:open_clip" in E.VIDEO_ENCODERS and "open_clip" in T.TEXT_ENCODERS
    with pytest.raises(ConfigError): E.build_video_encoder("resnet18")      # an image model needs the frames: prefix
    with pytest.raises(ConfigError): T.build_text_encoder("clip")           # needs a local folder
    with pytest.raises(ConfigError): T.build_text_encoder("open_clip")


@pytest.mark.parametrize("frames", [3, 8])
def test_every_prior_and_video_encoder_honours_out_dim(frames):
    torch.manual_seed(0)
    cases = [
        (E.Tiny3DCNN(widths=(4, 8)), (torch.randn(2, 3, frames, 16, 16),)),
        (E.AttentionMapEncoder("frame", dim=8), (torch.rand(2, frames),)),
        (E.AttentionMapEncoder("joint", dim=8), (torch.rand(2, frames, 17),)),
        (E.AttentionMapEncoder("spatial", dim=8), (torch.rand(2, frames, 12, 12),)),
        (E.KinematicsEncoder(dim=8, hidden=16), (torch.randn(2, frames, 238),)),
        (E.KinematicsEncoder(dim=8, hidden=16, arch="transformer"), (torch.randn(2, frames, 238),)),
    ]
    for enc, args in cases:
        tokens, emb = enc(*args)
        assert tokens.shape == (2, frames, enc.out_dim), type(enc).__name__
        assert emb.shape == (2, enc.out_dim) and torch.isfinite(emb).all()


def test_box_encoder_takes_collated_batches():
    "core.collate pads boxes and returns a pad mask; padded samples encode exactly as they do alone."
    torch.manual_seed(0)
    s1 = Sample("a", "S1", {"boxes": torch.rand(3, 4) * .5, "box_labels": torch.tensor([0, 4, 7]), "box_conf": torch.rand(3)})
    s2 = Sample("b", "S2", {"boxes": torch.rand(1, 4) * .5, "box_labels": torch.tensor([2]), "box_conf": torch.rand(1)})
    b = collate([s1, s2])
    enc = E.SpatialBoxEncoder(dim=16).eval()
    tokens, emb = enc(b.inputs["boxes"], b.inputs["box_labels"], b.inputs["box_conf"], b.pad_masks["boxes"])
    assert tokens.shape == (2, 3, 16) and emb.shape == (2, 16)
    alone = enc(s2.inputs["boxes"][None], s2.inputs["box_labels"][None], s2.inputs["box_conf"][None])[1]
    torch.testing.assert_close(emb[1:], alone)


def test_ordinal_bins_labels_match_prompts_on_a_dense_grid():
    "Every value on a 0.01 grid: the bin from `label` is the bin whose prompt interval contains it."
    import numpy as np, re
    bins = T.OrdinalBins([10, 35, 45, 55, 80], unit="%")
    vals = np.round(np.arange(10, 80.001, 0.01), 2)
    labels = bins.label(vals)
    for i in range(bins.n_bins):
        lo, hi = map(float, re.findall(r"(\d+(?:\.\d+)?)%", bins.prompt(i)))
        inside = (vals >= lo) & ((vals <= hi) if "under" not in bins.prompt(i) else (vals < hi))
        assert (labels[inside] == i).all() and (inside == (labels == i)).all()


def test_packaged_lite0_weights_recognise_a_real_photograph(media):
    """The EfficientNet-Lite0 we build, with the packaged ImageNet weights and the file's own classifier, names a real
    frame (Sports2D demo: a louvred garden shed before apartment blocks) as buildings or garden structures, confidently.
    A wrong block order, padding or normalisation gives near-uniform or unrelated classes."""
    from torchvision.models import ResNet18_Weights      # ImageNet class names, shipped with torchvision
    from medclip_nb.video import read_frames, to_tensor
    frame, _ = read_frames(media / "gait" / "sports2d_demo.mp4", [0], size=(224, 224))
    x = to_tensor(frame[0], "imagenet")[None]              # (1, 3, 224, 224), ImageNet statistics as the readers give
    enc = E.build_image_encoder("efficientnet_lite0", pretrained="packaged").eval()
    sd = torch.load(E.packaged_weights("efficientnet_lite0"), map_location="cpu", weights_only=True)
    with torch.no_grad(): p = (enc(x)[1] @ sd["_fc.weight"].T + sd["_fc.bias"]).softmax(-1)[0]
    names = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    top = [names[i] for i in p.topk(5).indices]
    structures = {"mobile home", "boathouse", "patio", "picket fence", "park bench", "window screen", "window shade",
                  "solar dish", "greenhouse", "sliding door", "barn", "prison", "apiary", "lumbermill", "library"}
    assert len(structures & set(top)) >= 3 and p.max() > 50 / len(names), (top, float(p.max()))


def test_one_normalisation_table():
    "The encoders renormalise with video's presets: one table of channel statistics in the package."
    from medclip_nb import video
    assert not hasattr(E, "NORM_STATS")
    x = torch.rand(1, 3, 2, 2)
    for name, (mean, std) in video.NORM_PRESETS.items():
        torch.testing.assert_close(E.renormalize(x, name, *video.NORM_PRESETS["unit"]), x * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1))
    with pytest.raises(ConfigError, match=r"choose one of \['clip', 'imagenet', 'kinetics', 'unit'\]"): E.renormalize(x, "cifar", (0, 0, 0), (1, 1, 1))


def test_registries_are_tables_of_builders():
    "Every name an error lists is a key of the table, and every key builds."
    assert list(E.IMAGE_ENCODERS)[-3:] == ["efficientnet_lite0", "clip", "open_clip"]
    assert all(f"frames:{n}" in E.VIDEO_ENCODERS for n in E.IMAGE_ENCODERS)
    with pytest.raises(ConfigError, match="choose one of") as err: E.build_video_encoder("i3d")
    assert all(repr(k) in str(err.value) for k in E.VIDEO_ENCODERS)
    assert type(E.VIDEO_ENCODERS["tiny3d"](None, widths=(4, 8))) is E.Tiny3DCNN
