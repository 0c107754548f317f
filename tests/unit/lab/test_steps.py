import io

import pytest

from pytest_oslab.lab.steps import FuncStep, LabError, Progress, run_steps


def test_steps_run_once_and_report_progress():
    state = {"ran": []}

    def make(name):
        return FuncStep(name, lambda lab: state["ran"].append(name), lambda lab: name in state["ran"])

    out = io.StringIO()
    steps = [make("a"), make("b")]
    run_steps(steps, None, Progress(out))
    run_steps(steps, None, Progress(out))
    assert state["ran"] == ["a", "b"]
    text = out.getvalue()
    assert "a ... ok" in text and "b ... already done" in text


def test_a_failing_step_is_one_line_naming_it():
    def boom(lab):
        raise RuntimeError("disk on fire")

    with pytest.raises(LabError) as err:
        run_steps([FuncStep("install", boom)], None, Progress(io.StringIO()))
    assert str(err.value) == "step 'install' failed: RuntimeError: disk on fire"


def test_a_step_whose_result_is_missing_after_running_fails():
    with pytest.raises(LabError, match="ran but its result is not there"):
        run_steps([FuncStep("noop", lambda lab: None, lambda lab: False)], None, Progress(io.StringIO()))


def test_long_steps_show_they_are_alive():
    import time
    out = io.StringIO()
    progress = Progress(out, tick=0.05)
    progress.run("slow", lambda: time.sleep(0.2))
    assert "slow ... still running" in out.getvalue()


def test_a_step_can_say_how_it_goes_under_its_name():
    class Talking(FuncStep):
        def run(self, lab):
            self.say("restarting something once")
            super().run(lab)

    out = io.StringIO()
    ran = []
    run_steps([Talking("dhcp-served", ran.append, lambda lab: bool(ran))], "lab", Progress(out))
    assert "] dhcp-served: restarting something once\n" in out.getvalue()
