"""Transports for sharded pools: the shards of a :class:`~knn_al.learner.sharded.ShardedLearner`
run elsewhere. :mod:`knn_al.sharding.ray_shards`: as Ray actors (the ``ray`` extra)."""
