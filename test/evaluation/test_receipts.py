"""Receipt scoring against the twin's truth: matching, line counts, exact / review / wrong
without a review flag."""

from __future__ import annotations

from smart_store.evaluation.receipts import Billed, Visit, match, score


def _visit(token: str, lines: dict[str, int], exit_time: float = 10.0) -> Visit:
    return Visit(payer=token, token=token, lines=lines, exit_time=exit_time, scenario='x')


def _billed(token: str, lines: dict[str, int], review: bool, exit_time: float = 10.0) -> Billed:
    return Billed(session_id=f's-{token}', token=token, lines=lines, exit_time=exit_time,
                  issued_time=exit_time + 0.5, needs_review=review, scenario='x')


def test_wrong_receipts_without_a_review_flag_are_counted_apart_from_reviewed_ones() -> None:
    visits = [_visit('a', {'COLA': 1}), _visit('b', {'CHOC': 2}), _visit('c', {'GUM': 1}),
              _visit('d', {'OJ': 1}), _visit('e', {'TEA': 1})]
    billed = [_billed('a', {'COLA': 1}, review=False),    # exact
              _billed('b', {'CHOC': 1}, review=True),     # wrong, on review
              _billed('c', {'COLA': 1}, review=False),    # wrong, unflagged
              _billed('d', {'OJ': 1}, review=True)]       # exact, on review; 'e' no receipt
    s = score(match(visits, billed))
    assert (s.visits, s.receipts, s.exact, s.reviewed, s.silent) == (5, 4, 2, 2, 1)
    assert s.unmatched_visits == 1
    assert s.silent_rate == 0.2 and s.review_rate == 0.4
    assert (s.tp, s.fp, s.fn) == (3, 1, 3)
    d = s.as_dict()
    assert d['silent'] == 1 and d['silent_rate'] == 0.2


def test_scores_add_up_over_scenarios() -> None:
    one = score(match([_visit('a', {'COLA': 1})], [_billed('a', {'CHOC': 1}, review=False)]))
    two = score(match([_visit('b', {'COLA': 1})], [_billed('b', {'COLA': 1}, review=False)]))
    one.add(two)
    assert (one.visits, one.exact, one.silent) == (2, 1, 1)
