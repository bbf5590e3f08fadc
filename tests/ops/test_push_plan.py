"""The push plan on hand-made states: what is sent, and above all what may never be deleted."""

from __future__ import annotations

from pathlib import Path

from mcp_bifrost.ops.push.filelist import LocalEntry, Selection
from mcp_bifrost.ops.push.plan import make_plan
from mcp_bifrost.ops.push.remote_tree import RemoteEntry, RemoteState, parse_listing

NS = 1_000_000_000


def local(tmp_path: Path, *entries: LocalEntry) -> Selection:
    return Selection(tmp_path, {e.path: e for e in entries})


def remote(manifest: set[str] = frozenset(), **entries: RemoteEntry) -> RemoteState:
    return RemoteState(
        "/wd/workspaces/x", {k.replace("__", "/"): v for k, v in entries.items()}, manifest=set(manifest)
    )


def rfile(size: int = 3, mtime: int = 5 * NS, mode: int = 0o644) -> RemoteEntry:
    return RemoteEntry("f", size, mtime, mode, "")


RDIR = RemoteEntry("d", 4096, 0, 0o755, "")


def test_a_file_of_the_same_size_mtime_and_mode_is_unchanged(tmp_path):
    plan = make_plan(local(tmp_path, LocalEntry("a", "f", 3, 5 * NS)), remote(a=rfile()), delete=True)
    assert plan.send == [] and plan.unchanged == 1


def test_an_mtime_within_the_tolerance_is_the_same_and_beyond_it_is_not(tmp_path):
    near = make_plan(
        local(tmp_path, LocalEntry("a", "f", 3, 5 * NS + 900_000)), remote(a=rfile()), delete=True
    )
    far = make_plan(
        local(tmp_path, LocalEntry("a", "f", 3, 5 * NS + 2_000_000)), remote(a=rfile()), delete=True
    )
    assert near.send == [] and [e.path for e in far.send] == ["a"]


def test_an_exec_bit_change_alone_sends_the_file(tmp_path):
    entry = LocalEntry("a", "f", 3, 5 * NS, executable=True)
    assert make_plan(local(tmp_path, entry), remote(a=rfile()), delete=True).send == [entry]


def test_checksum_mode_trusts_hashes_not_mtimes(tmp_path):
    state = remote(a=rfile(mtime=1), b=rfile())
    state.hashes = {"a": "same", "b": "theirs"}
    entries = local(tmp_path, LocalEntry("a", "f", 3, 9 * NS), LocalEntry("b", "f", 3, 5 * NS))
    plan = make_plan(entries, state, delete=True, local_hashes={"a": "same", "b": "ours"})
    assert [e.path for e in plan.send] == ["b"] and plan.unchanged == 1


def test_only_paths_from_the_manifest_that_are_gone_locally_are_deleted(tmp_path):
    (tmp_path / "ignored_now.txt").write_text("still here, merely ignored")
    state = remote(
        {"gone.txt", "ignored_now.txt"},
        **{"gone.txt": rfile(), "ignored_now.txt": rfile(), "made_there.txt": rfile()},
    )
    plan = make_plan(local(tmp_path), state, delete=True)
    assert plan.delete == ["gone.txt"]
    assert make_plan(local(tmp_path), state, delete=False).delete == []


def test_nothing_is_deleted_through_a_symlink_or_outside_the_tree(tmp_path):
    state = remote(
        {"link/passwd", "../escape", "/etc/passwd", "a/../../b", "missing"},
        link=RemoteEntry("l", 4, 0, 0o777, "/etc"),
    )
    state.entries["../escape"] = rfile()  # even were the listing to claim it
    plan = make_plan(local(tmp_path), state, delete=True)
    assert plan.delete == [] and plan.rmdir == []


def test_a_type_change_of_what_push_made_replaces_it_file_by_file(tmp_path):
    state = remote({"a", "a/x", "a/sub", "a/sub/y"}, a=RDIR, a__x=rfile(), a__sub=RDIR, a__sub__y=rfile())
    plan = make_plan(local(tmp_path, LocalEntry("a", "f", 3, 5 * NS)), state, delete=True)
    assert plan.conflicts == [] and [e.path for e in plan.send] == ["a"]
    assert plan.delete == ["a/sub/y", "a/x"] and plan.rmdir == ["a/sub", "a"]


def test_a_folder_push_did_not_make_is_a_conflict_and_nothing_is_removed(tmp_path):
    # issue 13.3: `results` here, `results/model.bin` made on the target: once rm -rf'd, even with delete=false
    state = remote(results=RDIR, **{"results__model.bin": rfile()})
    for delete in (True, False):
        plan = make_plan(local(tmp_path, LocalEntry("results", "f", 3, 5 * NS)), state, delete=delete)
        assert plan.delete == [] and plan.rmdir == []
        assert plan.conflicts == ["results (file here, folder on the target that push did not make)"]


def test_a_pushed_folder_that_now_holds_outputs_is_a_conflict(tmp_path):
    state = remote({"a", "a/x"}, a=RDIR, a__x=rfile(), **{"a__out.bin": rfile()})
    plan = make_plan(local(tmp_path, LocalEntry("a", "f", 3, 5 * NS)), state, delete=True)
    assert plan.delete == [] and plan.rmdir == []
    assert "a/out.bin" in plan.conflicts[0]


def test_replacing_a_pushed_folder_needs_delete(tmp_path):
    state = remote({"a", "a/x"}, a=RDIR, a__x=rfile())
    plan = make_plan(local(tmp_path, LocalEntry("a", "f", 3, 5 * NS)), state, delete=False)
    assert plan.delete == [] and "delete=true" in plan.conflicts[0]


def test_a_file_made_on_the_target_where_a_folder_arrives_is_a_conflict(tmp_path):
    state = remote(data=rfile())
    plan = make_plan(
        local(tmp_path, LocalEntry("data", "d"), LocalEntry("data/x", "f", 1, 0)), state, delete=True
    )
    assert plan.delete == [] and plan.conflicts[0].startswith("data (folder here, file on the target")


def test_a_pushed_file_replaced_by_a_folder_is_removed_alone(tmp_path):
    state = remote({"data"}, data=rfile())
    plan = make_plan(
        local(tmp_path, LocalEntry("data", "d"), LocalEntry("data/x", "f", 1, 0)), state, delete=False
    )
    assert (
        plan.conflicts == [] and plan.delete == ["data"] and [e.path for e in plan.send] == ["data", "data/x"]
    )


def test_files_under_an_unreadable_local_folder_are_kept_on_the_target_and_in_the_manifest(tmp_path):
    # issue 13.8: an unreadable folder was skipped silently and its remote files deleted
    selection = local(tmp_path, LocalEntry("a.txt", "f", 3, 5 * NS))
    selection.unreadable = {"secret"}
    state = remote(
        {"a.txt", "secret", "secret/key"}, **{"a.txt": rfile(), "secret": RDIR, "secret__key": rfile()}
    )
    plan = make_plan(selection, state, delete=True)
    assert plan.delete == [] and plan.rmdir == []
    assert plan.protected == ["secret", "secret/key"] and plan.manifest == ["a.txt", "secret", "secret/key"]


def test_gone_folders_are_removed_children_first(tmp_path):
    state = remote({"d", "d/e", "d/e/f.txt"}, d=RDIR, d__e=RDIR, **{"d__e__f.txt": rfile()})
    plan = make_plan(local(tmp_path), state, delete=True)
    assert plan.delete == ["d/e/f.txt"] and plan.rmdir == ["d/e", "d"]


def test_without_delete_the_manifest_keeps_what_is_still_there(tmp_path):
    state = remote({"old.txt"}, **{"old.txt": rfile()})
    plan = make_plan(local(tmp_path, LocalEntry("new.txt", "f", 1, 0)), state, delete=False)
    assert plan.manifest == ["new.txt", "old.txt"]


def test_the_listing_parser_reads_every_record_kind():
    records = [
        b"R",
        b"/wd/x",
        b"T",
        b"aa:bb",
        b"L",
        b"\nd",
        b"",
        b"",
        b"",
        b"dir",
        b"",
        b"\nf",
        b"12",
        b"1700000000.1234567890",
        b"755",
        b"dir/a b",
        b"",
        b"\nl",
        b"5",
        b"1.5",
        b"777",
        b"ln",
        b"a b",
        b"H",
        b"ab" * 32 + b"  dir/a b",
        b"M",
        b"dir/a b",
        b"ln",
    ]
    data = b"".join(r + b"\0" for r in records)
    state = parse_listing(data)
    assert state.real_dir == "/wd/x" and state.token == "aa:bb" and not state.same
    assert state.entries["dir"] == RemoteEntry("d", 0, 0, 0, "")
    assert state.entries["dir/a b"] == RemoteEntry("f", 12, 1700000000_123456789, 0o755, "")
    assert state.entries["ln"].link == "a b" and state.entries["ln"].mtime_ns == 1_500_000_000
    assert state.hashes == {"dir/a b": "ab" * 32} and state.manifest == {"dir/a b", "ln"}
    assert state.manifest_raw == b"dir/a b\0ln\0"
    assert state.records["dir/a b"] == "\nf\x0012\x001700000000.1234567890\x00755\x00dir/a b\x00\x00"


def test_a_listing_that_names_the_remembered_tree_carries_no_records():
    state = parse_listing(b"R\0/wd/x\0S\0aa:bb\0")
    assert state.same and state.token == "aa:bb" and not state.entries and not state.manifest
