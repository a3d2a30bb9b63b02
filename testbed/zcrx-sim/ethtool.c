// SPDX-License-Identifier: GPL-2.0-only
/*
 * zcrx-sim: ethtool ops. Ring parameters (sizes, tcp-data-split,
 * hds-thresh), channels (read only), per-queue counters, and ntuple flow
 * steering: rules matching TCP/UDP over IPv4/IPv6 by addresses, ports and
 * TOS, each sending a flow to one rx queue or discarding it.
 */

#include <linux/ethtool.h>
#include <linux/netdevice.h>
#include <net/netdev_lock.h>

#include "zcrx_sim.h"

static void zsim_get_drvinfo(struct net_device *dev,
			     struct ethtool_drvinfo *info)
{
	struct zsim_priv *priv = netdev_priv(dev);

	strscpy(info->driver, ZSIM_DRV_NAME, sizeof(info->driver));
	strscpy(info->bus_info, dev_name(&priv->pdev->dev),
		sizeof(info->bus_info));
}

static void zsim_get_ringparam(struct net_device *dev,
			       struct ethtool_ringparam *ring,
			       struct kernel_ethtool_ringparam *kring,
			       struct netlink_ext_ack *extack)
{
	struct zsim_priv *priv = netdev_priv(dev);

	ring->rx_max_pending = ZSIM_RING_MAX;
	ring->tx_max_pending = ZSIM_RING_MAX;
	ring->rx_pending = READ_ONCE(priv->rx_ring);
	ring->tx_pending = READ_ONCE(priv->tx_ring);
	kring->rx_buf_len = priv->rxq[0].buf_size;
	kring->tcp_data_split = READ_ONCE(priv->hds_enabled) ?
		ETHTOOL_TCP_DATA_SPLIT_ENABLED : ETHTOOL_TCP_DATA_SPLIT_DISABLED;
	kring->hds_thresh = READ_ONCE(priv->hds_thresh);
	kring->hds_thresh_max = ZSIM_HDS_THRESH_MAX;
}

static int zsim_set_ringparam(struct net_device *dev,
			      struct ethtool_ringparam *ring,
			      struct kernel_ethtool_ringparam *kring,
			      struct netlink_ext_ack *extack)
{
	struct zsim_priv *priv = netdev_priv(dev);

	if (ring->rx_pending < ZSIM_RING_MIN || ring->tx_pending < ZSIM_RING_MIN) {
		NL_SET_ERR_MSG_FMT(extack, "rings need at least %u entries",
				   ZSIM_RING_MIN);
		return -EINVAL;
	}
	if (kring->hds_thresh > ZSIM_HDS_THRESH_MAX) {
		NL_SET_ERR_MSG(extack, "hds-thresh above hds-thresh-max");
		return -EINVAL;
	}
	WRITE_ONCE(priv->rx_ring, ring->rx_pending);
	WRITE_ONCE(priv->tx_ring, ring->tx_pending);
	/* "unknown" (the driver's choice) means on, as at creation. */
	WRITE_ONCE(priv->hds_enabled,
		   kring->tcp_data_split != ETHTOOL_TCP_DATA_SPLIT_DISABLED);
	WRITE_ONCE(priv->hds_thresh, kring->hds_thresh);
	return 0;
}

static void zsim_get_channels(struct net_device *dev,
			      struct ethtool_channels *ch)
{
	ch->max_rx = dev->num_rx_queues;
	ch->max_tx = dev->num_tx_queues;
	ch->rx_count = dev->real_num_rx_queues;
	ch->tx_count = dev->real_num_tx_queues;
}

static u32 zsim_get_rx_ring_count(struct net_device *dev)
{
	return dev->real_num_rx_queues;
}

/* ---- ntuple rules ---- */

static struct zsim_rule *zsim_rule(struct zsim_priv *priv, u32 loc)
{
	return rcu_dereference_protected(priv->rules[loc],
					 lockdep_is_held(&priv->netdev->lock));
}

static bool zsim_rule_matches(const struct ethtool_rx_flow_spec *fs,
			      const struct zsim_flow *f)
{
	unsigned int i;

	if (fs->flow_type != f->flow_type)
		return false;
	switch (f->flow_type) {
	case TCP_V4_FLOW:
	case UDP_V4_FLOW: {
		const struct ethtool_tcpip4_spec *v = &fs->h_u.tcp_ip4_spec;
		const struct ethtool_tcpip4_spec *m = &fs->m_u.tcp_ip4_spec;

		return !((f->addr.v4.src ^ v->ip4src) & m->ip4src) &&
		       !((f->addr.v4.dst ^ v->ip4dst) & m->ip4dst) &&
		       !((f->sport ^ v->psrc) & m->psrc) &&
		       !((f->dport ^ v->pdst) & m->pdst) &&
		       !((f->tos ^ v->tos) & m->tos);
	}
	case TCP_V6_FLOW:
	case UDP_V6_FLOW: {
		const struct ethtool_tcpip6_spec *v = &fs->h_u.tcp_ip6_spec;
		const struct ethtool_tcpip6_spec *m = &fs->m_u.tcp_ip6_spec;

		for (i = 0; i < 4; i++)
			if (((f->addr.v6.src[i] ^ v->ip6src[i]) & m->ip6src[i]) ||
			    ((f->addr.v6.dst[i] ^ v->ip6dst[i]) & m->ip6dst[i]))
				return false;
		return !((f->sport ^ v->psrc) & m->psrc) &&
		       !((f->dport ^ v->pdst) & m->pdst) &&
		       !((f->tos ^ v->tclass) & m->tclass);
	}
	}
	return false;
}

/*
 * The rx queue the first (lowest location) matching rule of @rx names,
 * ZSIM_STEER_DROP for a discard rule, ZSIM_STEER_NONE without a match.
 * Called from the peer's transmit, under RCU.
 */
int zsim_steer(struct zsim_priv *rx, const struct zsim_flow *flow)
{
	unsigned int i;

	if (!flow->flow_type || !(READ_ONCE(rx->netdev->features) & NETIF_F_NTUPLE))
		return ZSIM_STEER_NONE;
	for (i = 0; i < ZSIM_MAX_RULES; i++) {
		const struct zsim_rule *r = rcu_dereference(rx->rules[i]);
		u64 cookie;

		if (!r || !zsim_rule_matches(&r->fs, flow))
			continue;
		cookie = r->fs.ring_cookie;
		if (cookie == RX_CLS_FLOW_DISC)
			return ZSIM_STEER_DROP;
		/* Queues may have shrunk since: never past the last. */
		return min_t(u64, ethtool_get_flow_spec_ring(cookie),
			     rx->netdev->real_num_rx_queues - 1);
	}
	return ZSIM_STEER_NONE;
}

void zsim_rules_flush(struct zsim_priv *priv)
{
	unsigned int i;

	for (i = 0; i < ZSIM_MAX_RULES; i++) {
		struct zsim_rule *r = rcu_replace_pointer(priv->rules[i], NULL, true);

		if (r)
			kfree_rcu(r, rcu);
	}
}

static unsigned int zsim_rule_count(struct zsim_priv *priv)
{
	unsigned int i, n = 0;

	for (i = 0; i < ZSIM_MAX_RULES; i++)
		n += !!rcu_access_pointer(priv->rules[i]);
	return n;
}

static int zsim_get_rxnfc(struct net_device *dev, struct ethtool_rxnfc *info,
			  u32 *rule_locs)
{
	struct zsim_priv *priv = netdev_priv(dev);
	struct zsim_rule *r;
	unsigned int i, n;

	switch (info->cmd) {
	case ETHTOOL_GRXCLSRLCNT:
		info->rule_cnt = zsim_rule_count(priv);
		info->data = ZSIM_MAX_RULES | RX_CLS_LOC_SPECIAL;
		return 0;
	case ETHTOOL_GRXCLSRULE:
		if (info->fs.location >= ZSIM_MAX_RULES)
			return -EINVAL;
		r = zsim_rule(priv, info->fs.location);
		if (!r)
			return -ENOENT;
		info->fs = r->fs;
		return 0;
	case ETHTOOL_GRXCLSRLALL:
		n = 0;
		for (i = 0; i < ZSIM_MAX_RULES; i++) {
			if (!zsim_rule(priv, i))
				continue;
			if (n == info->rule_cnt)
				return -EMSGSIZE;
			rule_locs[n++] = i;
		}
		info->rule_cnt = n;
		info->data = ZSIM_MAX_RULES;
		return 0;
	}
	return -EOPNOTSUPP;
}

static int zsim_check_spec(struct net_device *dev,
			   const struct ethtool_rx_flow_spec *fs)
{
	u64 cookie = fs->ring_cookie;

	switch (fs->flow_type) {
	case TCP_V4_FLOW:
	case UDP_V4_FLOW:
	case TCP_V6_FLOW:
	case UDP_V6_FLOW:
		break;
	default:
		/* Also refuses FLOW_EXT, FLOW_MAC_EXT and FLOW_RSS. */
		return -EOPNOTSUPP;
	}
	if (cookie == RX_CLS_FLOW_DISC)
		return 0;
	if (ethtool_get_flow_spec_ring_vf(cookie) ||
	    ethtool_get_flow_spec_ring(cookie) >= dev->real_num_rx_queues)
		return -EINVAL;
	return 0;
}

static int zsim_rule_insert(struct zsim_priv *priv, struct ethtool_rx_flow_spec *fs)
{
	struct zsim_rule *r, *old;
	u32 loc = fs->location;
	int err;

	err = zsim_check_spec(priv->netdev, fs);
	if (err)
		return err;
	if (loc & RX_CLS_LOC_SPECIAL) {
		/* Any special location: the first free slot. */
		for (loc = 0; loc < ZSIM_MAX_RULES; loc++)
			if (!zsim_rule(priv, loc))
				break;
		if (loc == ZSIM_MAX_RULES)
			return -ENOSPC;
	} else if (loc >= ZSIM_MAX_RULES) {
		return -EINVAL;
	}
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->fs = *fs;
	r->fs.location = loc;
	fs->location = loc;
	old = rcu_replace_pointer(priv->rules[loc], r,
				  lockdep_is_held(&priv->netdev->lock));
	if (old)
		kfree_rcu(old, rcu);
	return 0;
}

static int zsim_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *info)
{
	struct zsim_priv *priv = netdev_priv(dev);
	struct zsim_rule *old;
	u32 loc;

	switch (info->cmd) {
	case ETHTOOL_SRXCLSRLINS:
		return zsim_rule_insert(priv, &info->fs);
	case ETHTOOL_SRXCLSRLDEL:
		loc = info->fs.location;
		if (loc >= ZSIM_MAX_RULES)
			return -EINVAL;
		old = rcu_replace_pointer(priv->rules[loc], NULL,
					  lockdep_is_held(&dev->lock));
		if (!old)
			return -ENOENT;
		kfree_rcu(old, rcu);
		return 0;
	}
	return -EOPNOTSUPP;
}

/* ---- ethtool -S: per-queue counters ---- */

static const char * const zsim_rx_stat_names[] = {
	"packets", "bytes", "hds_packets", "alloc_fail", "dropped",
};

static const char * const zsim_tx_stat_names[] = {
	"packets", "bytes", "ring_full",
};

static int zsim_get_sset_count(struct net_device *dev, int sset)
{
	if (sset != ETH_SS_STATS)
		return -EOPNOTSUPP;
	return dev->real_num_rx_queues * ARRAY_SIZE(zsim_rx_stat_names) +
	       dev->real_num_tx_queues * ARRAY_SIZE(zsim_tx_stat_names);
}

static void zsim_get_strings(struct net_device *dev, u32 sset, u8 *data)
{
	unsigned int q, i;

	if (sset != ETH_SS_STATS)
		return;
	for (q = 0; q < dev->real_num_rx_queues; q++)
		for (i = 0; i < ARRAY_SIZE(zsim_rx_stat_names); i++)
			ethtool_sprintf(&data, "rx%u_%s", q, zsim_rx_stat_names[i]);
	for (q = 0; q < dev->real_num_tx_queues; q++)
		for (i = 0; i < ARRAY_SIZE(zsim_tx_stat_names); i++)
			ethtool_sprintf(&data, "tx%u_%s", q, zsim_tx_stat_names[i]);
}

static void zsim_get_ethtool_stats(struct net_device *dev,
				   struct ethtool_stats *stats, u64 *data)
{
	struct zsim_priv *priv = netdev_priv(dev);
	unsigned int q, start;

	for (q = 0; q < dev->real_num_rx_queues; q++) {
		const struct zsim_rxq_stats *s = &priv->rxq[q].stats;

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			data[0] = u64_stats_read(&s->packets);
			data[1] = u64_stats_read(&s->bytes);
			data[2] = u64_stats_read(&s->hds_packets);
			data[3] = u64_stats_read(&s->alloc_fail);
			data[4] = u64_stats_read(&s->dropped);
		} while (u64_stats_fetch_retry(&s->syncp, start));
		data += ARRAY_SIZE(zsim_rx_stat_names);
	}
	for (q = 0; q < dev->real_num_tx_queues; q++) {
		const struct zsim_txq_stats *s = &priv->txs[q];

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			data[0] = u64_stats_read(&s->packets);
			data[1] = u64_stats_read(&s->bytes);
			data[2] = u64_stats_read(&s->ring_full);
		} while (u64_stats_fetch_retry(&s->syncp, start));
		data += ARRAY_SIZE(zsim_tx_stat_names);
	}
}

const struct ethtool_ops zsim_ethtool_ops = {
	.supported_ring_params	= ETHTOOL_RING_USE_TCP_DATA_SPLIT |
				  ETHTOOL_RING_USE_HDS_THRS,
	.get_drvinfo		= zsim_get_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_ringparam		= zsim_get_ringparam,
	.set_ringparam		= zsim_set_ringparam,
	.get_channels		= zsim_get_channels,
	.get_rx_ring_count	= zsim_get_rx_ring_count,
	.get_rxnfc		= zsim_get_rxnfc,
	.set_rxnfc		= zsim_set_rxnfc,
	.get_sset_count		= zsim_get_sset_count,
	.get_strings		= zsim_get_strings,
	.get_ethtool_stats	= zsim_get_ethtool_stats,
};
