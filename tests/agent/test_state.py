"""The state file: JSON, mode 600, atomic replacement, clear errors."""

import json
import os
import stat
import threading

import pytest
from licensing_agent.state import State, StateError, StateFile


def test_round_trip_and_mode_600(tmp_path):
    path = tmp_path / "sub" / "state.json"
    StateFile(path).save(State(license_key="LP1M-x", portal_url="https://portal.example"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = StateFile(path).load()
    assert (loaded.license_key, loaded.portal_url) == ("LP1M-x", "https://portal.example")


def test_mode_600_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        StateFile(tmp_path / "state.json").save(State(token="secret"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600


def test_a_file_that_was_readable_by_others_becomes_private(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{}")
    path.chmod(0o644)
    StateFile(path).save(State(token="secret"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_file_means_an_empty_state(tmp_path):
    assert StateFile(tmp_path / "none.json").load() == State()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    state_file = StateFile(path)
    state_file.save(State(license_key="old"))

    def broken_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StateError, match="No space left"):
        state_file.save(State(license_key="new"))
    monkeypatch.undo()
    assert state_file.load().license_key == "old"
    assert [entry.name for entry in tmp_path.iterdir()] == ["state.json"]


def test_readers_never_see_a_half_written_file(tmp_path):
    path = tmp_path / "state.json"
    state_file = StateFile(path)
    state_file.save(State(license_key="k" * 50_000))
    errors = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            try:
                json.loads(path.read_text())
            except ValueError as error:
                errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    for index in range(60):
        state_file.save(State(license_key=str(index) * 50_000))
    stop.set()
    reader.join()
    assert errors == []


def test_unknown_fields_are_ignored_and_a_wrong_version_refused(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "license_key": "k", "future_field": 1}))
    assert StateFile(path).load().license_key == "k"
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(StateError, match="version"):
        StateFile(path).load()


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(StateError, match="not valid"):
        StateFile(path).load()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{}")
    path.chmod(0)
    with pytest.raises(StateError, match="cannot read"):
        StateFile(path).load()


def test_an_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError, match="cannot write"):
        StateFile(blocker / "state.json").save(State())
