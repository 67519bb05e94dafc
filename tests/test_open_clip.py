"""open_clip folders (EchoCLIP's format) as the towers of every recipe (issue 30, item 1).

Tiny random open_clip models are made with open_clip itself and saved in its hub folder layout; each packaged recipe
builds with them (`frames:open_clip` per frame for video recipes, `open_clip` for images, `open_clip` text where the
recipe encodes text or prompts) and takes one optimiser step. A missing or wrong folder is an error naming the
expected files, and nothing reaches the network. Kept tiny: 2 shared cores."""
import socket

import pytest
import torch

from medclip_nb.core import load_config, available_recipes, seed_everything, MissingModelError, ConfigError
from medclip_nb.model import build_model, fake_batch, param_groups
from medclip_nb import encoders as E
from medclip_nb import text as T


@pytest.fixture(scope="module")
def oc_dirs(tmp_path_factory):
    "Two tiny open_clip folders: one with .bin weights, one with .safetensors (other seed)."
    root = tmp_path_factory.mktemp("open_clip")
    return (T.make_tiny_open_clip(root / "bin", embed_dim=16, width=32, image_size=32),
            T.make_tiny_open_clip(root / "st", embed_dim=24, width=32, image_size=32, safetensors=True, seed=1))


@pytest.fixture
def no_network(monkeypatch):
    "Any attempt to open a connection or call the Hugging Face hub fails the test."
    def refuse(*a, **k): raise AssertionError(f"network access attempted: {a[1:] if len(a) > 1 else a}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)


def _open_clip_overrides(recipe: str, image_dir, text_dir) -> list:
    mods = load_config(recipe)["model"]["modalities"]
    over = [f"model.text_encoder=open_clip", f"model.text_path={text_dir}"]
    if "video" in mods: over += ["model.video_encoder=frames:open_clip", f"model.image_path={image_dir}"]
    if "image" in mods: over += ["model.image_encoder=open_clip", f"model.image_path={image_dir}"]
    return over


@pytest.mark.parametrize("recipe", available_recipes())
def test_every_recipe_trains_a_step_with_open_clip_towers(recipe, oc_dirs, no_network):
    image_dir, text_dir = oc_dirs
    seed_everything(0)
    m = build_model(load_config(recipe, _open_clip_overrides(recipe, image_dir, text_dir))).train()
    towers = {k: type(e.image_encoder if isinstance(e, E.FrameEncoder) else e).__name__ for k, e in m.encoders.items()
              if k in ("video", "image", "text")}
    want = {"video": "OpenCLIPVisionEncoder", "image": "OpenCLIPVisionEncoder", "text": "OpenCLIPTextEncoder"}
    assert towers == {k: want[k] for k in towers} and towers, (recipe, towers)
    assert ("text" in towers) == ("text" in m.modalities or m.uses_prompts), recipe
    if "text" in towers: assert m.encoders["text"].dim == 24          # the text folder's embed_dim
    frozen = {n: p.detach().clone() for n, p in m.encoders.named_parameters()}

    b = fake_batch(m.modalities, batch_size=5, frames=4, size=32, num_classes=m.num_classes, phases=True,
                   target_range=tuple(m.bins.edges[[0, -1]]) if m.bins is not None else (0.0, 60.0))
    out = m(b)
    teacher = torch.randn_like(out.logits) if m.settings["losses"].get("distill") else None
    loss = m.compute_losses(out, b, teacher_logits=teacher)["total"]
    assert torch.isfinite(loss), recipe
    opt = torch.optim.AdamW(param_groups(m, trainable_only=True))
    before = {n: p.detach().clone() for n, p in m.named_parameters() if p.requires_grad}
    opt.zero_grad(); loss.backward(); opt.step()
    moved = [n for n, p in m.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert moved, recipe
    tower = [n for n, p in m.encoders.named_parameters() if n.split(".")[0] in towers]
    assert tower and all(torch.equal(dict(m.encoders.named_parameters())[n], frozen[n]) for n in tower)  # pretrained towers stay frozen


def test_towers_load_the_folders_weights(oc_dirs, no_network):
    "The recipe's image tower is open_clip's own visual model with the file's weights and the folder's preprocessing."
    image_dir, _ = oc_dirs
    m = build_model(load_config("spatialclip_quality", ["model.image_encoder=open_clip", f"model.image_path={image_dir}",
                                                        "model.text_encoder=hash"]))
    enc = m.encoders["image"]
    sd = torch.load(image_dir / "open_clip_pytorch_model.bin", weights_only=True)
    assert all(torch.equal(v, sd[f"visual.{k}"]) for k, v in enc.backbone.state_dict().items())
    assert (enc.size, enc.mean) == ((32, 32), [0.1, 0.2, 0.3])


@pytest.mark.parametrize("which", ["absent", "empty", "hf_layout", "config_only"])
def test_a_missing_or_wrong_folder_names_the_expected_files(which, tmp_path, no_network):
    d = tmp_path / "echoclip"
    if which != "absent": d.mkdir()
    if which == "hf_layout": (d / "config.json").write_text("{}"); (d / "model.safetensors").write_bytes(b"")
    if which == "config_only": (d / "open_clip_config.json").write_text("{}")
    for over in (["model.video_encoder=frames:open_clip", f"model.image_path={d}"],
                 ["model.text_encoder=open_clip", f"model.text_path={d}"]):
        with pytest.raises(MissingModelError) as err: build_model(load_config("gaitlab_kd", over))
        msg = str(err.value)
        assert str(d) in msg and "open_clip_pytorch_model.bin" in msg and "open_clip_model.safetensors" in msg, msg
        assert ("open_clip_config.json" in msg.split("not found")[0]) == (which != "config_only" and which != "absent")
        assert "Nothing is fetched at run time" in msg


def test_open_clip_towers_need_a_folder():
    with pytest.raises(ConfigError, match="model.image_path"):
        build_model(load_config("spatialclip_quality", ["model.image_encoder=open_clip", "model.text_encoder=hash"]))
    with pytest.raises(ConfigError, match="model.text_path"):
        build_model(load_config("gaitlab_kd", ["model.text_encoder=open_clip"]))


def test_a_real_run_trains_saves_and_reloads_with_open_clip_towers(oc_dirs, tmp_path, no_network):
    "`medclip train` on tiny synthetic gait with open_clip video (per frame) and text towers; the run reloads with them."
    from medclip_nb.train import train
    from medclip_nb.run import load_run
    image_dir, text_dir = oc_dirs
    tiny = ["data.synth.subjects=9", "data.synth.clips_per_subject=2", "data.synth.frames=8", "data.synth.size=32",
            "data.frames=4", "data.size=32", "data.batch_size=6", "model.embed_dim=32", "train.max_epochs=1",
            "model.losses.distill=0.0", "model.losses.ce=1.0"]
    run = train("gaitlab_kd", out=tmp_path, name="oc", overrides=tiny + _open_clip_overrides("gaitlab_kd", image_dir, text_dir),
                progress=False)
    cfg = load_config(run / "config.yaml")["model"]
    assert (cfg["video_encoder"], cfg["image_path"], cfg["text_encoder"], cfg["text_path"]) == \
        ("frames:open_clip", str(image_dir), "open_clip", str(text_dir))
    model = load_run(run).model
    assert type(model.encoders["video"].image_encoder) is E.OpenCLIPVisionEncoder
    assert type(model.encoders["text"]) is T.OpenCLIPTextEncoder and model.encoders["text"].dim == 24


def test_coop_prompts_on_an_open_clip_text_tower(oc_dirs, no_network):
    "CardiacCLIP's learnable prompt context (model.coop) on an open_clip text tower: the bin prompts train through it."
    _, text_dir = oc_dirs
    seed_everything(0)
    m = build_model(load_config("cardiacclip_lvef", ["model.coop=true", "model.text_encoder=open_clip",
                                                     f"model.text_path={text_dir}"])).train()
    assert m.prompt_learner is not None and m.prompt_learner.input_ids.shape[1] == 32   # the folder's context length
    b = fake_batch(m.modalities, batch_size=3, frames=4, size=32, target_range=(0.0, 100.0))
    m.compute_losses(m(b), b)["total"].backward()
    assert m.prompt_learner.ctx.grad is not None and m.prompt_learner.ctx.grad.abs().sum() > 0


def test_an_echoclip_like_timm_convnext_tower(tmp_path, no_network):
    "EchoCLIP's image tower is a timm ConvNeXt inside open_clip: built without timm's ImageNet download, weights from the folder."
    d = T.make_tiny_open_clip(tmp_path / "echoclip_like", preprocess={"mean": [0.5] * 3, "std": [0.3] * 3},
                              vision_cfg=dict(timm_model_name="convnext_atto", timm_model_pretrained=False, timm_pool="",
                                              timm_proj="linear", image_size=32))
    m = build_model(load_config("cardiacclip_lvef", ["model.video_encoder=frames:open_clip", f"model.image_path={d}",
                                                     "model.text_encoder=hash"]))
    enc = m.encoders["video"].image_encoder
    sd = torch.load(d / "open_clip_pytorch_model.bin", weights_only=True)
    assert type(enc.backbone).__name__ == "TimmModel" and (enc.mean, enc.size) == ([0.5] * 3, (32, 32))
    assert all(torch.equal(v, sd[f"visual.{k}"]) for k, v in enc.backbone.state_dict().items())
    out = m(fake_batch(m.modalities, batch_size=2, frames=3, size=40, target_range=(0.0, 100.0)))
    assert out.prediction.shape == (2,) and torch.isfinite(out.prediction).all()
