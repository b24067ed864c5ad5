"""Time windows, bucket sizes and the formatting rules every page shares."""

from __future__ import annotations

import pytest

from dashboard.formatting import (
    AGE_STALE_S,
    age_css,
    format_age,
    format_price,
    imbalance_css,
    price_decimals,
    spread_css,
    time_ago,
)
from dashboard.time_window import TimeWindow, alignment_step_s, bucket_seconds, window_ending_at

pytestmark = pytest.mark.unit


def test_window_end_is_aligned_up_so_nearby_reruns_share_a_cache_key():
    a = window_ending_at(3_600, 1_700_000_000_100)
    b = window_ending_at(3_600, 1_700_000_000_900)
    assert a == b
    assert a.end_ms == 1_700_000_001_000  # rounded up: the newest data stays inside
    assert a.seconds == 3_600


def test_alignment_grows_with_the_range():
    assert alignment_step_s(300) == 1
    assert alignment_step_s(21_600) == 5
    assert alignment_step_s(86_400) == 10
    day = window_ending_at(86_400, 1_700_000_003_000)
    assert day.end_ms % 10_000 == 0


def test_empty_window_is_rejected():
    with pytest.raises(ValueError):
        TimeWindow(10, 10)


@pytest.mark.parametrize(
    ("range_s", "max_points", "expected"),
    [(300, 1_000, 1), (3_600, 1_000, 5), (86_400, 1_000, 120), (86_400, 240, 600), (86_400, 120, 900)],
)
def test_bucket_is_the_smallest_nice_step_within_the_point_budget(range_s, max_points, expected):
    bucket = bucket_seconds(range_s, max_points)
    assert bucket == expected
    assert range_s / bucket <= max_points


def test_bucket_beyond_the_largest_nice_step_is_a_multiple_of_it():
    bucket = bucket_seconds(86_400 * 365, 100)
    assert bucket % 21_600 == 0 and 86_400 * 365 / bucket <= 100


@pytest.mark.parametrize(
    ("delta_ms", "text"),
    [
        (300, "just now"),
        (12_400, "12 s ago"),
        (125_000, "2 min ago"),
        (3 * 3_600_000, "3 h ago"),
        (2 * 86_400_000, "2 d ago"),
        (-5_000, "in the future"),
    ],
)
def test_time_ago(delta_ms, text):
    assert time_ago(1_000_000_000 - delta_ms, 1_000_000_000) == text


def test_time_ago_of_nothing_is_a_dash():
    assert time_ago(None, 1) == "—"


def test_price_decimals_follow_the_magnitude():
    assert price_decimals(61_000.0) == 2
    assert price_decimals(2_511.5) == 2
    assert price_decimals(150.25) == 2
    assert price_decimals(0.00123) == 7
    assert format_price(61_061.789) == "61,061.79"
    assert format_price(None) == "—"


def test_imbalance_colour_is_strong_exactly_at_the_high_threshold():
    faint = imbalance_css(0.2, 0.5, 0.7)
    medium = imbalance_css(0.55, 0.5, 0.7)
    strong = imbalance_css(0.7, 0.5, 0.7)
    assert "42,157,143" in strong and "0.85" in strong and "white" in strong  # bid colour
    assert "0.50" in medium and "white" not in medium
    assert "white" not in faint
    assert "231,111,81" in imbalance_css(-0.9, 0.5, 0.7)  # ask colour for negative
    assert imbalance_css(None, 0.5, 0.7).startswith("color")


def test_stale_and_expired_ages_are_marked():
    assert age_css(0.5) == ""
    assert "240,162,2" in age_css(6.0)
    assert "229,56,59" in age_css(AGE_STALE_S + 1)
    assert "229,56,59" in age_css(None)
    assert format_age(None) == "expired"
    assert format_age(3.21) == "3.2 s"


def test_spread_is_flagged_relative_to_the_typical_spread():
    assert spread_css(1.0, 1.0) == ""
    assert "240,162,2" in spread_css(2.5, 1.0)
    assert "229,56,59" in spread_css(5.0, 1.0)
