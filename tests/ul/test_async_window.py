"""Asynchronous Operations Window negotiation (PS3.7 D.3.3.3): what the acceptor answers and
what ``Association.async_window`` reports on both sides."""

from __future__ import annotations

from dicomtls.ul.association import Association, Established
from dicomtls.ul.negotiation import answer_async_window, async_window, build_request
from dicomtls.ul.user_info import AsynchronousOperationsWindow

SC = "1.2.840.10008.5.1.4.1.1.7"


def rq_with(window):
    extra = () if window is None else (AsynchronousOperationsWindow(*window),)
    return build_request("SCP", "SCU", [SC], extra_user_items=extra)


def test_absent_means_one_each_way_and_gets_no_answer():
    rq = rq_with(None)
    assert async_window(rq) == (1, 1)
    assert answer_async_window(rq, invoked=8) is None


def test_answer_caps_the_proposal_and_unlimited_gets_our_limit():
    assert answer_async_window(rq_with((16, 3)), invoked=8) == AsynchronousOperationsWindow(8, 1)
    assert answer_async_window(rq_with((4, 1)), invoked=8) == AsynchronousOperationsWindow(4, 1)
    assert answer_async_window(rq_with((0, 0)), invoked=8, performed=2) == \
        AsynchronousOperationsWindow(8, 2)


def test_both_sides_see_the_accepted_window():
    rq = Association("requestor")
    ac = Association("acceptor", supported={SC: ("1.2.840.10008.1.2",)})
    rq.request("SCP", "SCU", [SC], extra_user_items=(AsynchronousOperationsWindow(8, 1),))
    assert rq.async_window == (1, 1)   # nothing is agreed before the A-ASSOCIATE-AC
    ac.receive_data(rq.data_to_send())
    request = ac.next_event().request
    ac.accept(extra_user_items=(answer_async_window(request, invoked=3),))
    assert isinstance(ac.next_event(), Established)
    rq.receive_data(ac.data_to_send())
    assert isinstance(rq.next_event(), Established)
    assert rq.async_window == ac.async_window == (3, 1)
