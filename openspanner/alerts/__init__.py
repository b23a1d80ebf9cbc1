"""Alert rules: a meter's aggregation over a rolling window, compared with a threshold.

rules.py holds the rule and its checks, machine.py the pure state machine
(which events an evaluation makes), service.py the operations the edges call,
scheduler.py the background task that evaluates rules when they are due.
"""
