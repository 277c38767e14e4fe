"""Updates that never lose an edit: what ``copier update`` alone gets wrong.

Used by ``hooks/update_guard.py`` (an ``after`` migration run in copier's
Python on every update: :mod:`.guard`) and by ``mlops template recopy``
(:mod:`.recopy`). Standard library, pyyaml and packaging only; nbdime and
copier are imported where needed, and their absence is a message.
"""
