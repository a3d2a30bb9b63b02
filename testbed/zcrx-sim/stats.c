// SPDX-License-Identifier: GPL-2.0-only
/*
 * zcrx-sim: per-queue statistics for the netdev netlink family
 * (qstats-get): packets, bytes and, per rx queue, buffer allocation
 * failures (the frames dropped because the pool, e.g. a ZCRX area, was
 * empty).
 */

#include <linux/netdevice.h>
#include <net/netdev_queues.h>

#include "zcrx_sim.h"

static void zsim_get_queue_stats_rx(struct net_device *dev, int idx,
				    struct netdev_queue_stats_rx *stats)
{
	struct zsim_priv *priv = netdev_priv(dev);
	const struct zsim_rxq_stats *s = &priv->rxq[idx].stats;
	unsigned int start;

	do {
		start = u64_stats_fetch_begin(&s->syncp);
		stats->packets = u64_stats_read(&s->packets);
		stats->bytes = u64_stats_read(&s->bytes);
		stats->alloc_fail = u64_stats_read(&s->alloc_fail);
	} while (u64_stats_fetch_retry(&s->syncp, start));
}

static void zsim_get_queue_stats_tx(struct net_device *dev, int idx,
				    struct netdev_queue_stats_tx *stats)
{
	struct zsim_priv *priv = netdev_priv(dev);
	const struct zsim_txq_stats *s = &priv->txs[idx];
	unsigned int start;

	do {
		start = u64_stats_fetch_begin(&s->syncp);
		stats->packets = u64_stats_read(&s->packets);
		stats->bytes = u64_stats_read(&s->bytes);
	} while (u64_stats_fetch_retry(&s->syncp, start));
}

static void zsim_get_base_stats(struct net_device *dev,
				struct netdev_queue_stats_rx *rx,
				struct netdev_queue_stats_tx *tx)
{
	/* Queues are never removed, so nothing lives outside them. */
	rx->packets = 0;
	rx->bytes = 0;
	rx->alloc_fail = 0;
	tx->packets = 0;
	tx->bytes = 0;
}

const struct netdev_stat_ops zsim_stat_ops = {
	.get_queue_stats_rx	= zsim_get_queue_stats_rx,
	.get_queue_stats_tx	= zsim_get_queue_stats_tx,
	.get_base_stats		= zsim_get_base_stats,
};
