"""The worker's checkpoint counts ids of one sorted list: another write batch resumes it as is,
another list of ids (same scope) starts over and says so."""

from sync_pipeline.engine.checkpoints import plan_resume
from sync_pipeline.pipelines.users.apply import ids_layout


def test_the_worker_position_means_ids_of_one_list():
    stored = ids_layout([1, 5, 9, 12])
    assert stored["page_size"] == 1, "a position counts ids, whatever the write batch"
    same = plan_resume(2, None, stored, ids_layout([1, 5, 9, 12]))
    assert (same.page, same.restart, same.note) == (2, False, None)
    other = plan_resume(2, None, stored, ids_layout([1, 6, 9, 12]))
    assert other.restart and "was written for another listing (params" in other.note
