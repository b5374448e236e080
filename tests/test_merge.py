"""The merging rules, fed event by event (the real-display tests are in test_recorder.py)."""

from __future__ import annotations

from tracker.recording.input_events import KeyEvent, MouseButtonEvent, ScrollEvent
from tracker.recording.merge import ActionMerger, Control, MergeConfig, parse_hotkey_spec


class Script:
    """Feeds a merger timed events and collects the action texts."""

    def __init__(self, **config):
        controls = {parse_hotkey_spec("ctrl+shift+f12"): "stop", parse_hotkey_spec("ctrl+shift+f9"): "pause"}
        self.merger = ActionMerger(MergeConfig(control_hotkeys=controls, **config),
                                   context_for=lambda e: ("ctx", e.t), started_at=0.0)
        self.t = 0.0
        self.out = []

    def at(self, dt):
        self.t += dt
        return self

    def feed(self, event):
        for result in self.merger.feed(event, frame=("frame", event.t)):
            self.out.append(result)
            if isinstance(result, Control) and result.command == "pause":  # as the recorder does
                if self.merger.paused:
                    self.merger.resume(self.t)
                else:
                    self.out += self.merger.pause()
        return self

    def press(self, x, y, button="left", dt=0.05):
        return self.at(dt).feed(MouseButtonEvent(self.t, x, y, button, True))

    def release(self, x, y, button="left", dt=0.05):
        return self.at(dt).feed(MouseButtonEvent(self.t, x, y, button, False))

    def click(self, x, y, button="left"):
        return self.press(x, y, button).release(x, y, button)

    def key(self, name, char=None, dt=0.02):
        self.at(dt).feed(KeyEvent(self.t, name, char, True))
        return self.at(0.01).feed(KeyEvent(self.t, name, char, False))

    def down(self, name, char=None):
        return self.at(0.01).feed(KeyEvent(self.t, name, char, True))

    def up(self, name, char=None):
        return self.at(0.01).feed(KeyEvent(self.t, name, char, False))

    def type(self, text):
        for ch in text:
            if ch.isupper():
                self.down("shift").key(ch, ch).up("shift")
            else:
                self.key("space" if ch == " " else ch, None if ch == " " else ch)
        return self

    def scroll(self, x, y, dx, dy):
        return self.at(0.03).feed(ScrollEvent(self.t, x, y, dx, dy))

    def wait(self, seconds):
        self.t += seconds
        self.out += self.merger.tick(self.t, frame=("frame", self.t))
        return self

    def flush(self):
        self.out += self.merger.flush()
        return self

    @property
    def actions(self):
        return [str(a.action) if not isinstance(a, Control) else f"<{a.command}>" for a in self.out]


def test_click_waits_for_the_double_click_window_then_is_a_click():
    s = Script().click(10, 20)
    assert s.actions == []
    s.wait(0.6)
    assert s.actions == ["click (10, 20)"]


def test_next_tick_says_when_time_alone_finishes_something():
    """The recorder sleeps until then: a click's double-click window, else the idle wait."""
    s = Script(idle_wait_s=6.0)
    assert s.merger.next_tick() == 6.0  # idle since the start
    s.click(10, 20)
    assert abs(s.merger.next_tick() - (s.t - 0.05 + 0.5)) < 1e-9  # the press's time + the double-click window
    s.wait(0.4)
    assert s.actions == []  # not due yet
    s.wait(0.2)
    assert s.actions == ["click (10, 20)"] and abs(s.merger.next_tick() - (s.t - 0.6 + 6.0)) < 1e-9
    s.down("ctrl").up("ctrl")
    s.merger.pause()
    assert s.merger.next_tick() is None
    assert Script(idle_wait_s=None).merger.next_tick() is None


def test_two_quick_presses_at_one_point_are_a_double_click():
    s = Script().click(10, 20).click(12, 21)
    assert s.actions == ["double click (10, 20)"]


def test_presses_too_far_apart_in_space_or_time_are_two_clicks():
    assert Script().click(10, 20).click(40, 20).flush().actions == ["click (10, 20)", "click (40, 20)"]
    s = Script().click(10, 20).wait(0.6).click(10, 20).flush()
    assert s.actions == ["click (10, 20)", "click (10, 20)"]


def test_right_and_middle_clicks_are_final_at_release():
    s = Script().click(5, 6, "right").click(7, 8, "middle")
    assert s.actions == ["right click (5, 6)", "middle click (7, 8)"]


def test_release_elsewhere_is_a_drag_and_a_small_wobble_is_not():
    assert Script().press(10, 10).release(200, 50).actions == ["drag from (10, 10) to (200, 50)"]
    assert Script().press(10, 10).release(13, 12).flush().actions == ["click (10, 10)"]


def test_scrolls_are_summed_on_both_axes_until_other_input():
    s = Script().scroll(50, 50, 0, -1).scroll(50, 51, 0, -1).scroll(51, 50, 1, -1)
    assert s.actions == []
    s.key("enter")
    assert s.actions == ["scroll (1, -3)", "press key: enter"]


def test_scrolling_somewhere_else_starts_a_new_scroll():
    s = Script().scroll(50, 50, 0, 2).scroll(400, 300, 0, -1).flush()
    assert s.actions == ["scroll (0, 2)", "scroll (0, -1)"]


def test_typing_is_buffered_and_backspace_edits_it():
    s = Script().type("helpp").key("backspace").key("backspace").type("lo World")
    s.key("enter")
    assert s.actions == ["type text: hello World", "press key: enter"]


def test_backspace_past_the_typed_run_is_a_key_press():
    s = Script().type("ab").key("backspace").key("backspace").key("backspace").flush()
    assert s.actions == ["press key: backspace"]


def test_delete_inside_a_run_changes_nothing_and_outside_is_a_key():
    assert Script().type("ab").key("delete").flush().actions == ["type text: ab"]
    assert Script().key("delete").actions == ["press key: delete"]


def test_caps_lock_inverts_letters_only():
    s = Script().key("caps_lock").type("ab1").key("caps_lock").type("c").flush()
    assert s.actions == ["type text: AB1c"]


def test_hotkeys_with_any_modifiers_end_typing():
    s = Script().type("x")
    s.down("ctrl_l").key("a", "a").up("ctrl_l")
    s.down("ctrl_l").down("shift").key("T", "T").up("shift").up("ctrl_l")
    s.down("alt").key("f4").up("alt")
    s.down("cmd").key("d", "d").up("cmd")
    s.down("shift").key("tab").up("shift")
    assert s.actions == ["type text: x", "hotkey (ctrl, a)", "hotkey (ctrl, shift, t)",
                         "hotkey (alt, f4)", "hotkey (super, d)", "hotkey (shift, tab)"]


def test_shifted_punctuation_in_a_hotkey_names_the_key():
    s = Script().down("ctrl").down("shift").key("!", "!").up("shift").up("ctrl")
    assert s.actions == ["hotkey (ctrl, shift, 1)"]


def test_modifiers_alone_produce_nothing():
    s = Script().down("ctrl").up("ctrl").down("shift").up("shift").down("cmd").up("cmd").flush()
    assert s.actions == []


def test_cursor_keys_and_clicks_end_a_typing_run():
    s = Script().type("ab").key("left").type("c").click(1, 2).flush()
    assert s.actions == ["type text: ab", "press key: left", "type text: c", "click (1, 2)"]


def test_non_ascii_text_is_kept():
    s = Script()
    for ch in "äé€ж":
        s.key(ch, ch)
    assert s.flush().actions == ["type text: äé€ж"]


def test_idle_time_becomes_wait_after_flushing():
    s = Script().type("hi").wait(6.5)
    assert s.actions == ["type text: hi", "wait"]
    s.wait(3)
    assert s.actions == ["type text: hi", "wait"]
    s.wait(3.5)
    assert s.actions == ["type text: hi", "wait", "wait"]


def test_control_hotkeys_are_not_actions_and_pause_drops_input():
    s = Script().type("a")
    s.down("ctrl").down("shift").key("f9").up("shift").up("ctrl")
    s.click(5, 5).type("secret")
    s.down("ctrl").down("shift").key("f9").up("shift").up("ctrl")
    s.type("b").down("ctrl").down("shift").key("f12")
    assert s.actions == ["type text: a", "<pause>", "<pause>", "type text: b", "<stop>"]


def test_an_action_keeps_the_frame_and_context_of_its_first_event():
    s = Script().type("abc").key("enter")
    typed = s.out[0]
    assert typed.frame == ("frame", typed.t) and typed.context == ("ctx", typed.t)
    assert typed.t < typed.t_end
    dbl = Script().click(3, 3).click(3, 3).out[0]
    assert dbl.frame == ("frame", dbl.t) and str(dbl.action) == "double click (3, 3)"


def test_pointer_is_where_the_action_began():
    s = Script().press(10, 10).release(90, 90)
    assert s.out[0].pointer == (10, 10)
    s = Script().scroll(30, 40, 0, 1).flush()
    assert s.out[0].pointer == (30, 40)


def test_a_hotkey_has_the_context_looked_up_as_its_first_modifier_went_down():
    # ctrl+s may open a Save As dialog before a lookup at the "s" press could ask what had focus
    s = Script().down("ctrl")
    ctrl_down = s.t
    s.key("s", "s").key("w", "w").up("ctrl").down("shift").key("tab").up("shift")
    save, close, back_tab = s.out
    assert str(save.action) == "hotkey (ctrl, s)" and save.context == ("ctx", ctrl_down)
    assert str(close.action) == "hotkey (ctrl, w)" and close.context == ("ctx", close.t)  # its own, once used
    assert str(back_tab.action) == "hotkey (shift, tab)" and back_tab.context == ("ctx", back_tab.t)


def test_a_run_follows_the_focus_each_key_went_to_not_the_focus_when_merged():
    """The merger may work behind the keyboard (a slow accessibility look-up): by the time it merges the
    last letters, ctrl+s may have opened a dialog. The window each key carries from the listener decides."""
    merged_window = {"now": 11}  # what a look-up at merge time would say
    merger = ActionMerger(MergeConfig(idle_wait_s=None), started_at=0.0, window_for=lambda e: merged_window["now"])
    out, t = [], 0.0
    for i, char in enumerate("Hello"):
        if i == 1:
            merged_window["now"] = 99  # the Save As dialog is up before "ello" is merged
        t += 0.05
        out += merger.feed(KeyEvent(t, char, char, True, window=11)) + merger.feed(KeyEvent(t + 0.01, char, char, False))
    for char in "a.txt":  # typed into the dialog: its keys carry its window
        t += 0.05
        out += merger.feed(KeyEvent(t, char, char, True, window=99)) + merger.feed(KeyEvent(t + 0.01, char, char, False))
    out += merger.flush()
    assert [str(m.action) for m in out] == ["type text: Hello", "type text: a.txt"]
