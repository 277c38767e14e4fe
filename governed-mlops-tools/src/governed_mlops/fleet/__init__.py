"""``mlops fleet``: one policy version rolled out across many projects.

``sources`` (which repositories), ``inspect`` (the facts of one project),
``report`` (the fleet's facts aggregated and rendered), ``classify`` (an
update's outcome from its evidence), ``describe`` (the pull-request text),
``state`` (the campaign's state file) and ``update`` (the update runs).
"""
