"""The cache of derived signal layouts: equal to a fresh derivation, keyed, self-healing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from external_nets import grid, sumocfg

from scenarios.derive import DerivedJunction, derive_junction
from scenarios.derive_cache import DeriveCache, code_fingerprint
from scenarios.external import external_junctions, read_sumocfg
from scenarios.netfile import active_programs, read_net


@pytest.fixture(scope="module")
def net_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("derive_cache")
    net = grid(folder, "walk", "--sidewalks.guess", "--crossings.guess")
    sumocfg(folder / "walk.sumocfg", net, None, 0, 60)
    return net


def _assert_same(a: DerivedJunction, b: DerivedJunction) -> None:
    """Every group, conflict, intergreen, stage, link, plan and flag equal."""
    ma, mb = a.layout.model, b.layout.model
    assert ma.groups == mb.groups
    assert ma.conflicts == mb.conflicts
    assert dict(ma.intergreens) == dict(mb.intergreens)
    assert ma.stages == mb.stages
    assert [ma.index_of(g.name) for g in ma.groups] == [mb.index_of(g.name) for g in mb.groups]
    assert a.layout.tls == b.layout.tls
    assert a.layout.link_group == b.layout.link_group
    assert a.layout.links == b.layout.links
    assert a.layout.connections == b.layout.connections
    assert a.layout.turning == b.layout.turning
    assert np.array_equal(a.layout.response, b.layout.response)
    assert a.layout.response.dtype == b.layout.response.dtype
    assert (a.plan, a.program_has_amber, a.program_has_all_red, a.lengthened_s, a.cycle_s,
            a.mode) == (b.plan, b.program_has_amber, b.program_has_all_red, b.lengthened_s,
                        b.cycle_s, b.mode)


def _fresh(net_path: Path, mode: str) -> dict[str, DerivedJunction]:
    net = read_net(net_path)
    return {tls: derive_junction(net, tls, mode=mode) for tls in net.tls_ids}


def _cached(net_path: Path, folder: Path, mode: str, calls: list[str]
            ) -> dict[str, DerivedJunction]:
    net = read_net(net_path)
    cache = DeriveCache.for_network(net_path, folder)

    def derive(tls: str) -> DerivedJunction:
        calls.append(tls)
        return derive_junction(net, tls, mode=mode)

    return cache.get_or_derive(net.tls_ids, (mode,), derive)


@pytest.mark.parametrize("mode", ["rilsa", "program"])
def test_cached_layouts_equal_a_fresh_derivation(net_path: Path, tmp_path: Path,
                                                 mode: str) -> None:
    calls: list[str] = []
    first = _cached(net_path, tmp_path, mode, calls)
    assert len(calls) == 9 and len(list(tmp_path.glob("*.pickle"))) == 1
    again = _cached(net_path, tmp_path, mode, calls)
    assert len(calls) == 9  # the second load derived nothing
    fresh = _fresh(net_path, mode)
    assert list(again) == list(fresh) == list(first)
    for tls in fresh:
        assert again[tls] is not first[tls]
        _assert_same(again[tls], fresh[tls])


def test_a_changed_network_or_option_misses(net_path: Path, tmp_path: Path) -> None:
    calls: list[str] = []
    _cached(net_path, tmp_path, "rilsa", calls)
    _cached(net_path, tmp_path, "program", calls)  # another option: derived again
    assert len(calls) == 18
    changed = tmp_path / "changed.net.xml"
    changed.write_bytes(net_path.read_bytes() + b"\n")  # same network, other bytes
    _cached(changed, tmp_path, "rilsa", calls)
    assert len(calls) == 27
    assert len(list(tmp_path.glob("*.pickle"))) == 3


def test_the_code_takes_part_in_the_key(net_path: Path, tmp_path: Path) -> None:
    cache = DeriveCache.for_network(net_path, tmp_path)
    other = DeriveCache(folder=tmp_path, net_digest=cache.net_digest, code="other code")
    assert cache.code == code_fingerprint()
    assert cache.key(("rilsa",)) != other.key(("rilsa",))
    assert code_fingerprint(("signals",)) != code_fingerprint(("scenarios", "signals"))


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_a_corrupt_entry_is_derived_afresh(net_path: Path, tmp_path: Path,
                                           damage: bytes) -> None:
    calls: list[str] = []
    _cached(net_path, tmp_path, "rilsa", calls)
    (entry,) = tmp_path.glob("*.pickle")
    entry.write_bytes(damage)  # empty, garbage, or a pickle of something else (1)
    rebuilt = _cached(net_path, tmp_path, "rilsa", calls)
    assert len(calls) == 18
    fresh = _fresh(net_path, "rilsa")
    for tls in fresh:
        _assert_same(rebuilt[tls], fresh[tls])
    _cached(net_path, tmp_path, "rilsa", calls)  # the entry was replaced
    assert len(calls) == 18


def test_an_unwritable_cache_is_skipped(net_path: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    calls: list[str] = []
    derived = _cached(net_path, blocked / "derived", "rilsa", calls)
    assert len(calls) == 9 and len(derived) == 9


def test_external_junctions_use_the_cache_for_both_modes(net_path: Path,
                                                        tmp_path: Path) -> None:
    config = read_sumocfg(net_path.parent / "walk.sumocfg")
    net = read_net(config.net_file)
    first = external_junctions(config, net, cache_dir=tmp_path)
    assert len(list((tmp_path / "derived").glob("*.pickle"))) == 1
    second = external_junctions(config, net, cache_dir=tmp_path)
    programs = active_programs(net, config.additional_files)
    for a, b in zip(first, second, strict=True):
        assert (a.tls, a.plans, a.detectors, a.info, a.lengthened_s) == (
            b.tls, b.plans, b.detectors, b.info, b.lengthened_s)
        assert dict(a.layout.model.intergreens) == dict(b.layout.model.intergreens)
        pa, pb = a.with_intergreens("program"), b.with_intergreens("program")
        fresh = derive_junction(net, a.tls, program=programs.get(a.tls), mode="program")
        assert dict(pb.layout.model.intergreens) == dict(fresh.layout.model.intergreens)
        assert pa.plans == pb.plans == (fresh.plan,)
    assert len(list((tmp_path / "derived").glob("*.pickle"))) == 1 + len(first)


def test_the_parsed_network_is_cached_by_content_and_path(net_path: Path,
                                                          tmp_path: Path) -> None:
    reads: list[Path] = []

    def read(path: Path):
        reads.append(path)
        return read_net(path)

    cache = DeriveCache.for_network(net_path, tmp_path)
    first = cache.net(net_path, read)
    again = DeriveCache.for_network(net_path, tmp_path).net(net_path, read)
    assert reads == [net_path] and again is not first
    assert again == first == read_net(net_path)
    copy = tmp_path / "copy.net.xml"  # the same bytes elsewhere: a NetFile names its path
    copy.write_bytes(net_path.read_bytes())
    moved = DeriveCache.for_network(copy, tmp_path).net(copy, read)
    assert reads == [net_path, copy] and moved.path == copy
    next(tmp_path.glob("*.pickle")).write_bytes(b"broken")
    for path in (net_path, copy):  # whichever entry broke is read afresh
        assert DeriveCache.for_network(path, tmp_path).net(path, read) == read_net(path)
    assert len(reads) == 3


def test_an_unreadable_network_disables_the_cache(tmp_path: Path) -> None:
    cache = DeriveCache.for_network(tmp_path / "missing.net.xml", tmp_path)
    assert not cache.enabled
    assert cache.get_or_derive(["a"], ("rilsa",), lambda tls: tls) == {"a": "a"}
    assert not list(tmp_path.glob("*.pickle"))


def test_route_flows_are_cached_by_the_route_files_bytes_and_window(net_path: Path,
                                                                    tmp_path: Path) -> None:
    """A cached demand estimate equals the fresh one; other bytes or another window miss;
    an estimate that could not read a file is not stored (its warning comes each time)."""
    from scenarios.external import _route_flows, route_flows

    routes = tmp_path / "r.rou.xml"
    routes.write_text('<routes><route id="a" edges="e1 e2 e3"/>'
                      '<vehicle id="v0" depart="5" route="a"/>'
                      '<trip id="t0" depart="50" from="e1" to="e9"/>'
                      '<flow id="f0" begin="0" end="1800" vehsPerHour="300" from="e4" to="e5"/>'
                      '</routes>', encoding="utf-8")
    cache = DeriveCache.for_network(net_path, tmp_path / "cache")
    calls: list[tuple[float, float]] = []

    def estimate(window: tuple[float, float]):
        calls.append(window)
        return _route_flows((routes,), *window)

    fresh = route_flows((routes,), 0.0, 3600.0)
    assert len(fresh) == 3 and fresh[0] == ("e1", "e3", 1.0)
    for _ in range(2):
        assert cache.route_flows((routes,), (0.0, 3600.0), lambda: estimate((0.0, 3600.0))
                                 ) == fresh
    assert calls == [(0.0, 3600.0)]  # the second came from the cache
    assert cache.route_flows((routes,), (0.0, 30.0), lambda: estimate((0.0, 30.0))
                             ) == route_flows((routes,), 0.0, 30.0)
    routes.write_text(routes.read_text().replace('depart="50"', 'depart="51"'))
    cache.route_flows((routes,), (0.0, 3600.0), lambda: estimate((0.0, 3600.0)))
    assert len(calls) == 3  # another window, other bytes: estimated afresh
    stored = sorted((tmp_path / "cache").glob("*.pickle"))
    assert len(stored) == 3
    broken = tmp_path / "broken.rou.xml"
    broken.write_text("<routes><vehicle", encoding="utf-8")
    for _ in range(2):
        assert cache.route_flows((broken,), (0.0, 60.0),
                                 lambda: _route_flows((broken,), 0.0, 60.0)) == ()
    assert sorted((tmp_path / "cache").glob("*.pickle")) == stored  # nothing stored


def test_entries_unused_for_a_month_are_pruned_when_one_is_written(net_path: Path,
                                                                   tmp_path: Path) -> None:
    """A read keeps its entry young; a write removes entries (and temporary files) that no
    run used for PRUNE_AFTER_DAYS, and nothing else."""
    import os

    from scenarios.derive_cache import PRUNE_AFTER_DAYS

    calls: list[str] = []
    _cached(net_path, tmp_path, "rilsa", calls)
    (used,) = tmp_path.glob("*.pickle")
    stale = tmp_path / ("0" * 64 + ".pickle")  # an entry of code that no longer exists
    stale.write_bytes(b"old")
    left_over = tmp_path / ".tmp-abandoned.pickle"
    left_over.write_bytes(b"")
    old_s = used.stat().st_mtime - (PRUNE_AFTER_DAYS + 1) * 86400
    for path in (used, stale, left_over):
        os.utime(path, (old_s, old_s))
    _cached(net_path, tmp_path, "rilsa", calls)  # a hit: touches its entry, writes nothing
    assert len(calls) == 9 and stale.exists() and left_over.exists()
    _cached(net_path, tmp_path, "program", calls)  # a miss: written, and the cache pruned
    assert len(calls) == 18
    assert not stale.exists() and not left_over.exists()
    assert used.exists() and len(list(tmp_path.glob("*.pickle"))) == 2


def test_prune_counts_what_it_removed(tmp_path: Path) -> None:
    from scenarios.derive_cache import prune

    for name in ("a", "b"):
        (tmp_path / f"{name}.pickle").write_bytes(b"")
    (tmp_path / "keep.txt").write_bytes(b"")  # not an entry: never touched
    assert prune(tmp_path, days=1.0) == 0
    assert prune(tmp_path, days=1.0, now_s=(tmp_path / "a.pickle").stat().st_mtime + 2 * 86400) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
