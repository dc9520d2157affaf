from labeler.ui.stopwatch import Stopwatch


def test_time_counts_only_while_running_and_restarts_from_zero():
    now = [10.0]
    watch = Stopwatch(clock=lambda: now[0])
    watch.restart()
    now[0] += 4
    watch.pause()
    watch.pause()  # twice: no harm
    now[0] += 100
    assert watch.seconds() == 4
    watch.resume()
    watch.resume()  # already running: the start stays
    now[0] += 1.5
    assert watch.seconds() == 5.5
    watch.restart()
    now[0] += 2
    assert watch.seconds() == 2
