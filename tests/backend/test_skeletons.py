"""The skeleton graphs equal the published pyramids (graphs.json)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kinetic_gan.skeletons import get_skeleton


@pytest.fixture(scope="module")
def published(original_fixtures):
    return json.loads((original_fixtures / "graphs.json").read_text())


@pytest.mark.parametrize("name", ["ntu", "h36m"])
def test_pyramid_equals_published(published, name):
    ref = published[name]
    levels = get_skeleton(name).pyramid.levels
    assert [lv.num_nodes for lv in levels] == ref["num_nodes"]
    assert [lv.center for lv in levels] == ref["center"]
    for i, level in enumerate(levels):
        assert [list(p) for p in enumerate(level.kept)] == ref["map"][i]
        ref_edges = sorted(tuple(sorted(e)) for e in ref["edges"][i] if e[0] != e[1])
        assert list(level.edges) == ref_edges
        np.testing.assert_allclose(level.A, np.array(ref["A"][i]), atol=1e-7)


@pytest.mark.parametrize("name", ["ntu", "h36m"])
def test_upsample_neighbourhoods_equal_published(published, name):
    pyramid = get_skeleton(name).pyramid
    for level, ref in enumerate(published[name]["upsample"]):
        ours = [[node, *nbrs] for node, nbrs in pyramid.upsample_neighbours(level).items()]
        assert ours == ref


def test_partitions_are_column_normalized():
    for name in ("ntu", "h36m"):
        for level in get_skeleton(name).pyramid.levels:
            np.testing.assert_allclose(level.A.sum(axis=(0, 1)), 1.0, atol=1e-6)


def test_mirror_swaps_left_and_right():
    sk = get_skeleton("ntu")
    assert sk.joint_names[sk.mirror[sk.index("HandLeft")]] == "HandRight"
    assert sk.mirror[sk.index("SpineBase")] == sk.index("SpineBase")
    assert sorted(sk.mirror) == list(range(sk.num_joints))
    h36m = get_skeleton("h36m")
    assert h36m.joint_names[h36m.mirror[h36m.index("LeftWrist")]] == "RightWrist"


def test_parents_form_one_tree():
    for name in ("ntu", "ntu2d", "h36m"):
        sk = get_skeleton(name)
        assert sk.parents.count(-1) == 1
        for joint in range(sk.num_joints):  # every joint reaches the root without cycles
            seen, j = set(), joint
            while j != -1:
                assert j not in seen
                seen.add(j)
                j = sk.parents[j]


def test_unknown_skeleton_is_a_clear_error():
    from kinetic_gan.errors import KineticGanError

    with pytest.raises(KineticGanError, match="unknown skeleton"):
        get_skeleton("smpl")
