"""Progress without a terminal: plain lines now and then instead of a bar that a log cannot show."""

import io

from flowfm_edge.progress import ProgressLine, every_s, progress_bar


def test_plain_lines_when_stdout_is_no_terminal(capsys, monkeypatch):
    monkeypatch.setenv("FLOWFM_EDGE_PROGRESS_S", "0")
    with progress_bar(3, label="train") as advance:  # pytest captures stdout: no terminal
        for loss in (0.5, 0.25, 0.125):
            advance(loss=loss)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3", "3/3"]  # each step, then the end
    assert lines[-1].startswith("train 3/3 (100%) 0:00:00 eta 0:00:00") and lines[-1].endswith("loss 0.1250")


def test_lines_are_spaced_by_the_interval(monkeypatch):
    monkeypatch.setenv("FLOWFM_EDGE_PROGRESS_S", "3600")
    out = io.StringIO()
    line = ProgressLine("gateway", file=out)
    for n in range(1000):
        line.update(messages=n, broker="connected")
    assert out.getvalue() == ""  # an hour has not passed
    line.close()
    assert out.getvalue().startswith("gateway 0:00:00 messages 999 broker connected")
    assert every_s() == 3600


def test_a_bad_interval_is_named(monkeypatch):
    monkeypatch.setenv("FLOWFM_EDGE_PROGRESS_S", "soon")
    try:
        every_s()
    except ValueError as exc:
        assert "FLOWFM_EDGE_PROGRESS_S='soon'" in str(exc)
    else:
        raise AssertionError("no error")
