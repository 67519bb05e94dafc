"""The typed config: recipes are short and hold only what differs from the schema's defaults, `medclip config` shows
every key, errors say what is wrong, and every config key the package reads is in the schema."""
import ast, subprocess, sys
from pathlib import Path

import pytest
import yaml

from medclip_nb.core import (Config, ConfigError, available_recipes, load_config, recipes_dir, schema_defaults,
                             schema_keys, _flatten)

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "medclip_nb"
BIN = Path(sys.executable).parent
MAX_RECIPE_LINES = 40


# --- recipes -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("recipe", available_recipes())
def test_recipe_is_short(recipe):
    n = len((recipes_dir() / f"{recipe}.yaml").read_text().splitlines())
    assert n <= MAX_RECIPE_LINES, f"{recipe}.yaml has {n} lines (comments count); at most {MAX_RECIPE_LINES}"


@pytest.mark.parametrize("recipe", available_recipes())
def test_recipe_holds_only_differences(recipe):
    "A recipe key set to its schema default is noise: it hides what the recipe is about."
    spec = schema_keys()
    data = yaml.safe_load((recipes_dir() / f"{recipe}.yaml").read_text())
    same = [k for k, v in _flatten(data).items() if k != "recipe" and k in spec and spec[k].default == v]
    assert not same, f"{recipe}.yaml sets keys to their defaults: {same}"


@pytest.mark.parametrize("recipe", available_recipes())
def test_medclip_config_prints_every_key(recipe):
    r = subprocess.run([str(BIN / "medclip"), "config", recipe], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    shown = yaml.safe_load(r.stdout)
    assert list(Config(shown).flat()) == list(schema_keys()), "medclip config must print every key, in the schema's order"
    assert shown == load_config(recipe).to_dict()
    assert shown["recipe"] == recipe


def test_old_full_configs_still_load(tmp_path):
    "A run folder's config.yaml written before the schema (every key spelled out, newer keys absent) still loads."
    for recipe in available_recipes():
        full = load_config(recipe).to_dict()
        old = {k: v for k, v in full.items() if k != "evaluate"}
        old["data"] = {k: v for k, v in old["data"].items() if k not in ("classes", "shots_per_bin")}
        p = tmp_path / "config.yaml"
        p.write_text(yaml.safe_dump(old, sort_keys=False))
        cfg = Config(yaml.safe_load(p.read_text()), recipe)                  # how load_run reads it
        assert cfg.with_overrides(["train.max_epochs=1"]).train.max_epochs == 1
        assert load_config(p).to_dict() == full                                # and as a recipe file: the same config


# --- errors --------------------------------------------------------------------------------------------------------
def test_unknown_key_suggests(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'model.fusoin' in recipe 'clinicalclip_gait'\. "
                                          r"Did you mean \['model.fusion'"):
        load_config("clinicalclip_gait", ["model.fusoin=mean"])
    (tmp_path / "mine.yaml").write_text("train:\n  max_epoch: 3\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'train.max_epoch' in recipe 'mine'\. "
                                          r"Did you mean \['train.max_epochs'.*Allowed keys: \["):
        load_config(tmp_path / "mine.yaml")
    r = subprocess.run([str(BIN / "medclip"), "config", "scoligait", "data.shots_per_bim=2"], capture_output=True, text=True)
    assert r.returncode == 2 and "Did you mean ['data.shots_per_bin'" in r.stderr and "Traceback" not in r.stderr


def test_wrong_type_names_key_type_and_value(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'train.max_epochs': got 'many' \(str\), expected a value of type int"):
        load_config("clinicalclip_gait", ["train.max_epochs=many"])
    (tmp_path / "mine.yaml").write_text("model:\n  embed_dim: wide\n")
    with pytest.raises(ConfigError, match=r"config key 'model.embed_dim': got 'wide' \(str\), expected a value of type int"):
        load_config(tmp_path / "mine.yaml")
    (tmp_path / "mine.yaml").write_text("data:\n  root: [a, b]\n")
    with pytest.raises(ConfigError, match=r"'data.root': got \['a', 'b'\] \(list\), expected a value of type str or null"):
        load_config(tmp_path / "mine.yaml")
    with pytest.raises(ConfigError, match=r"'task' = 'segmentation'.*choose one of \['classification', 'regression'\]"):
        load_config("clinicalclip_gait", ["task=segmentation"])
    with pytest.raises(ConfigError, match=r"'model.modalities' = \['video', 'audio'\]: unknown \['audio'\]"):
        load_config("clinicalclip_gait", ["model.modalities=[video, audio]"])


def test_keys_once_only_in_get_take_overrides():
    cfg = load_config("cardiacclip_lvef", ["evaluate.threshold=40", "evaluate.positive=below", "data.shots_per_bin=4"])
    assert (cfg.evaluate.threshold, cfg.evaluate.positive, cfg.data.shots_per_bin) == (40.0, "below", 4)
    assert load_config("clinicalclip_gait").evaluate.threshold is None


def test_data_modalities_follow_model_modalities(tmp_path):
    for recipe in available_recipes():
        cfg = load_config(recipe)
        assert cfg.data.modalities == cfg.model.modalities
    assert load_config("scoligait", ["model.modalities=[video]"]).data.modalities == ["video"]
    set_both = load_config("scoligait", ["model.modalities=[video]", "data.modalities=[video, kinematics]"])
    assert set_both.data.modalities == ["video", "kinematics"]
    (tmp_path / "mine.yaml").write_text("data: {modalities: [video, text]}\nmodel: {modalities: [video]}\n")
    assert load_config(tmp_path / "mine.yaml").data.modalities == ["video", "text"]


# --- every key the package reads is in the schema -----------------------------------------------------------------
ROOT_NAMES = {"cfg", "config"}              # names that hold a whole recipe config
STOP_METHODS = {"get", "to_dict", "flat", "with_overrides", "items", "keys", "values", "copy"}


def _const_str(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def config_path(node, aliases:dict):
    "The config key path an expression reads (a tuple, () for the whole config), or None if it is not a config read."
    if isinstance(node, ast.Name):    # a root name assigned something else in this scope (an HF config) is not ours
        return aliases[node.id] if node.id in aliases else (() if node.id in ROOT_NAMES else None)
    if isinstance(node, ast.Attribute):
        if node.attr == "cfg": return ()                # self.cfg, run.cfg
        if node.attr == "settings": return ("model",)   # MedClipModel.settings: the resolved model section
        base = config_path(node.value, aliases)
        return None if base is None or node.attr in STOP_METHODS else base + (node.attr,)
    if isinstance(node, ast.Subscript):
        base, k = config_path(node.value, aliases), _const_str(node.slice)
        return None if base is None or k is None else base + (k,)
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name):
            if f.id in ("load_config", "Config"): return ()
            if f.id == "model_settings": return ("model",)
            if f.id == "dict" and node.args: return config_path(node.args[0], aliases)
            return None
        if isinstance(f, ast.Attribute):
            base = config_path(f.value, aliases)
            if base is None: return None
            if f.attr in ("to_dict", "copy"): return base
            if f.attr == "get" and node.args and _const_str(node.args[0]) is not None: return base + (node.args[0].value,)
        return None
    if isinstance(node, ast.BoolOp): return config_path(node.values[0], aliases)
    if isinstance(node, ast.IfExp):
        p = config_path(node.body, aliases)
        return p if p is not None else config_path(node.orelse, aliases)
    return None


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef)


def _scope_nodes(scope):
    "The nodes of one scope (the module or a function, lambdas included), not those of the functions inside it."
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        n = todo.pop()
        yield n
        if not isinstance(n, SCOPES): todo.extend(ast.iter_child_nodes(n))


def config_reads(source:str) -> set:
    "Every config key path read in `source`: `cfg.data.x`, `cfg.train.get('x')`, `cfg['model']['x']`, through aliases."
    tree, reads = ast.parse(source), set()
    for scope in [tree] + [n for n in ast.walk(tree) if isinstance(n, SCOPES)]:
        nodes, aliases = list(_scope_nodes(scope)), {}
        for a in sorted((n for n in nodes if isinstance(n, ast.Assign)), key=lambda n: n.lineno):
            p = config_path(a.value, aliases)               # `tr = cfg.train`, `ev = cfg.get("evaluate")`, ...
            for t in a.targets:
                if isinstance(t, ast.Name): aliases[t.id] = p
        for n in nodes:
            if isinstance(n, (ast.Attribute, ast.Subscript, ast.Call)) and (p := config_path(n, aliases)):
                reads.add(p)
    return reads


def unknown_reads(reads:set) -> list:
    "The read paths that are neither a schema key, a section of keys, nor inside a key's value."
    keys = list(schema_keys())
    def known(p):
        k = ".".join(p)
        return k in keys or any(s.startswith(k + ".") or k.startswith(s + ".") for s in keys)
    return sorted(".".join(p) for p in reads if not known(p))


def package_reads() -> dict:
    return {p.relative_to(ROOT).as_posix(): config_reads(p.read_text()) for p in sorted(PKG.rglob("*.py"))
            if "__pycache__" not in p.parts and p.name != "_modidx.py"}


def test_scanner_finds_a_planted_unknown_key():
    src = ("def f(cfg, run):\n"
           "    tr = cfg.train\n"
           "    ev = run.cfg.get('evaluate') or {}\n"
           "    return (cfg.data.get('no_such_key', 3), tr.also_missing, tr.lr, ev.get('threshold'), cfg['model']['fusion'],\n"
           "            model_settings(cfg)['nor_this'], cfg.seed)\n")
    reads = config_reads(src)
    assert {("train", "lr"), ("evaluate", "threshold"), ("model", "fusion"), ("seed",)} <= reads
    assert unknown_reads(reads) == ["data.no_such_key", "model.nor_this", "train.also_missing"]


def test_every_key_read_in_code_is_in_the_schema():
    found = package_reads()
    everything = set().union(*found.values())
    # the scanner sees the package's reads, including the keys that once lived only in a `.get()`
    assert {("data", "shots_per_bin"), ("train", "gradient_clip"), ("train", "log_every"), ("data", "train_sampling"),
            ("train", "limit_batches"), ("evaluate", "threshold")} <= everything
    assert len(everything) >= 40, sorted(everything)
    missing = {f: unknown_reads(r) for f, r in found.items() if unknown_reads(r)}
    assert not missing, f"config keys read in code but absent from the schema (medclip_nb.core): {missing}"


def test_a_run_written_before_a_key_existed_reads_its_default(tmp_path):
    "load_run reads a run's config.yaml over the schema's defaults: keys added since (data.classes, evaluate) are there."
    full = load_config("clinicalclip_gait").to_dict()
    old = {k: v for k, v in full.items() if k != "evaluate"}
    old["data"] = {k: v for k, v in old["data"].items() if k not in ("classes", "shots_per_bin")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    cfg = load_config(tmp_path / "config.yaml")
    assert cfg.data.classes is None and cfg.data.shots_per_bin == 0 and cfg.evaluate.threshold is None
    assert cfg.recipe == "clinicalclip_gait"
