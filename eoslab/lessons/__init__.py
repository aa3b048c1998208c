"""What the exercises build on: the verifier, transaction error classes, rewinding, database sinks, quizzes.

    from eoslab.lessons import verify, read_ids
    print(verify(sent=range(100), received=read_ids(output_topic)))   # lost, duplicated, out of order

- :mod:`.verifier` — :func:`verify` compares what was sent with what arrived, the way Kafka's own
  exactly-once system test does; the course's record format (:func:`record_value`, :func:`record_id`);
- :mod:`.txn` — :func:`classify` a Kafka error as retriable, abortable or fatal, and what to do;
  :class:`FaultyProducer` and :func:`crafted_error` to provoke each class on purpose;
- :mod:`.rewind` — :func:`rewind_to_committed` after an aborted transaction;
- :mod:`.sinks` — lesson 08's SQLite sinks (naive, unique id, offsets stored with the results);
- :mod:`.backoff` — :func:`retry_with_backoff` with capped exponential backoff and jitter;
- :mod:`.quiz` — :func:`score_single`, :func:`score_multi` for the knowledge checks;
- :mod:`.unwritten` — :func:`when_written`: a "not done yet" note instead of a traceback while an
  exercise is blank (so Run All reaches the end); :func:`require_answer`, :func:`is_written`;
- :mod:`.together` — :func:`side_by_side`: a hidden test's independent checks at the same time,
  each bounded (the slowest one sets the grading time, not their sum).

Pure lesson logic: nothing here starts a process (that is :mod:`eoslab.workers`); side_by_side starts threads.
"""

from .backoff import kafka_error_is_retriable, retry_with_backoff
from .quiz import score_multi, score_single
from .rewind import rewind_to_committed
from .sinks import (SINK_KINDS, booked_ids, booked_total, duplicate_counts, open_sink, parse_payment, payment_record,
                    payment_value, summarize)
from .txn import (TOO_LONG_FOR_REJECTING, WHAT_TO_DO, FaultyProducer, classify, crafted_error,
                  create_rejecting_topic)
from .together import side_by_side
from .unwritten import (NOT_DONE_YET, NotDoneYet, is_placeholder, is_unwritten_error, is_written, newest_definition,
                        require_answer, when_written, written_or_note)
from .verifier import DeliveryReport, assert_exactly_once, read_ids, read_records, record_id, record_value, verify

__all__ = ["NOT_DONE_YET", "SINK_KINDS", "TOO_LONG_FOR_REJECTING", "WHAT_TO_DO", "DeliveryReport", "FaultyProducer",
           "NotDoneYet", "is_placeholder", "is_unwritten_error", "is_written", "newest_definition", "require_answer",
           "when_written", "written_or_note",
           "assert_exactly_once", "booked_ids", "booked_total", "classify", "crafted_error", "create_rejecting_topic",
           "duplicate_counts", "kafka_error_is_retriable", "open_sink", "parse_payment", "payment_record",
           "payment_value", "read_ids", "read_records", "record_id", "record_value", "retry_with_backoff",
           "rewind_to_committed", "score_multi", "score_single", "side_by_side", "summarize", "verify"]
