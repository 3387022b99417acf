"""The benches' speed-up at equal MSE: interpolated, an upper bound, never reached, or zero when no edit is closer."""

from dws_edit.bench.common import seconds_text, speed_at_equal_mse, speedup_text

CURVE = [(0.5, 4e-3), (2.0, 1e-3), (8.0, 1e-4)]  # fine-tuning: (seconds, MSE) after 5, 20, 100 steps


def test_between_two_points_the_time_is_interpolated():
    row = speed_at_equal_mse(CURVE, dws_mse=2.5e-3, identity_mse=1e-2, dws_seconds=0.05)
    assert row["speedup_kind"] == "interpolated"
    assert abs(row["finetune_seconds_to_dws_mse"] - 1.25) < 1e-9  # halfway from 4e-3 to 1e-3
    assert speedup_text(row) == "25x" and seconds_text(row) == "1.25"


def test_a_first_point_already_below_gives_an_upper_bound():
    row = speed_at_equal_mse(CURVE, dws_mse=5e-3, identity_mse=1e-2, dws_seconds=0.05)
    assert row["speedup_kind"] == "at_most" and row["finetune_seconds_to_dws_mse"] == 0.5
    assert speedup_text(row) == "<= 10x" and seconds_text(row) == "<= 0.50"


def test_never_reached_and_no_edit_closer():
    never = speed_at_equal_mse(CURVE, dws_mse=1e-5, identity_mse=1e-2, dws_seconds=0.05)
    assert never["speedup_at_equal_mse"] is None and speedup_text(never) == "never" and seconds_text(never) == "never"
    worse = speed_at_equal_mse(CURVE, dws_mse=2e-2, identity_mse=1e-2, dws_seconds=0.05)
    assert worse["speedup_at_equal_mse"] == 0.0 and speedup_text(worse) == "0x (no edit is closer)"
    assert seconds_text(worse) == "0.00"


def test_cards_measured_before_the_kind_existed_print_their_ratio():
    assert speedup_text({"speedup_at_equal_mse": 19.4}) == "19x"
    assert speedup_text({"speedup_at_equal_mse": None}) == "never"
