"The redesign's guard: each recipe trained tiny and evaluated gives the numbers recorded before it (tests/golden.py)."
import json
import pytest
from golden import GOLDEN, TINY, golden_run, differences

WANT = json.loads(GOLDEN.read_text())


def test_differences_finds_a_changed_number():
    assert differences({"a": 1.0, "b": [1, "x"]}, {"a": 1.0 + 1e-7, "b": [1, "x"]}) == []
    assert differences({"a": 1.0}, {"a": 1.001}) == [".a: 1.0 -> 1.001"]
    assert differences({"a": 1.0}, {}) == [".a: missing"]


@pytest.mark.parametrize("recipe", sorted(TINY))
def test_recipe_reproduces_its_golden_metrics(recipe, tmp_path):
    got = golden_run(recipe, tmp_path)
    diff = differences(WANT[recipe], got)
    assert not diff, f"{recipe}: metrics differ from tests/golden_metrics.json:\n" + "\n".join(diff[:20])
