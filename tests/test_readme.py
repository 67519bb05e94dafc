"README.md and nbs/index.ipynb are the project's front page twice: they must say the same, results table first."
import json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def markdown_tables(text:str) -> list:
    "Every pipe table in a markdown text: a list of rows, each a list of stripped cells (the --- rule left out)."
    tables, cur, fence = [], [], False
    for line in text.splitlines() + [""]:
        if line.lstrip().startswith("```"): fence = not fence
        if not fence and line.lstrip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells): cur.append(cells)
        elif cur: tables.append(cur); cur = []
    return tables


def table_under(text:str, heading:str) -> list:
    "The first table after `heading` (a markdown heading line)."
    i = text.index(heading)
    return markdown_tables(text[i:])[0]


def readme() -> str: return (ROOT / "README.md").read_text()


def index_markdown() -> str:
    nb = json.loads((ROOT / "nbs" / "index.ipynb").read_text())
    return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


RESULTS = "## What the recipes reach"


def test_markdown_tables_are_parsed():
    t = markdown_tables("text\n\n| a | b |\n|---|---|\n| 1 | `x` |\n\n```\n| not | a table |\n```\n| c |\n|:---:|\n| 2 |\n")
    assert t == [[["a", "b"], ["1", "`x`"]], [["c"], ["2"]]]


def test_results_tables_agree():
    ours, theirs = table_under(readme(), RESULTS), table_under(index_markdown(), RESULTS)
    assert ours == theirs, "README.md and nbs/index.ipynb disagree on the results table"


def test_every_table_agrees():
    assert markdown_tables(readme()) == markdown_tables(index_markdown())


def test_same_sections():
    heads = lambda t: [l for l in t.splitlines() if re.match(r"#{1,3} ", l)]
    assert heads(readme()) == heads(index_markdown())


def test_one_results_row_per_recipe_with_its_command():
    recipes = sorted(p.stem for p in (ROOT / "medclip_nb" / "recipes").glob("*.yaml"))
    head, *rows = table_under(readme(), RESULTS)
    assert head[0] == "recipe" and head[-1] == "command"
    assert sorted(r[0].strip("`") for r in rows) == recipes          # one row each, no history rows
    for r in rows:
        name = r[0].strip('`')
        assert f"medclip train {name} " in r[-1] or f"medclip sweep {name} " in r[-1], r   # the command that produced the number


def test_same_words():
    "Word for word, except the README's Python block, which the index runs as code cells."
    words = lambda t: re.sub(r"```python.*?```", "", t, flags=re.S).split()
    assert words(readme()) == words(index_markdown())


def test_python_block_is_the_index_code():
    nb = json.loads((ROOT / "nbs" / "index.ipynb").read_text())
    code = [l for c in nb["cells"] if c["cell_type"] == "code" for l in "".join(c["source"]).splitlines()]
    block = re.search(r"```python\n(.*?)```", readme(), re.S).group(1).splitlines()
    assert block == code


def test_results_table_comes_from_results():
    "The README's results rows are what `sweep.results_table` renders from the committed sweep summaries under results/."
    from medclip_nb.sweep import results_table
    want = markdown_tables(results_table(ROOT / "results"))[0]
    assert table_under(readme(), RESULTS) == want, \
        "README's results table differs from results/: paste the output of medclip_nb.sweep.results_table(Path('results'))"


def test_results_table_follows_the_files(tmp_path):
    "Change a number in a copy of results/ and the rendered table changes with it (the check above can fail)."
    import shutil
    import pandas as pd
    from medclip_nb.sweep import results_table
    shutil.copytree(ROOT / "results", tmp_path / "results")
    f = sorted((tmp_path / "results").glob("*/summary.csv"))[0]
    s = pd.read_csv(f); s.loc[0, "mean"] = s.loc[0, "mean"] + 0.5; s.to_csv(f, index=False)
    assert results_table(tmp_path / "results") != results_table(ROOT / "results")
    for name in sorted(p.name for p in (ROOT / "results").iterdir() if p.is_dir()):   # each with the command that made it
        assert {"sweep.json", "summary.csv", "summary.md"} <= {p.name for p in (ROOT / "results" / name).iterdir()}, name
