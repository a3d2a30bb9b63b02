// SPDX-License-Identifier: GPL-2.0-only
/*
 * zcrx-sim: module parameters, creation of the device pairs, and the
 * net_device ops (open, stop, transmit to the peer).
 */

#include <linux/dma-mapping.h>
#include <linux/etherdevice.h>
#include <linux/jhash.h>
#include <linux/module.h>
#include <linux/rtnetlink.h>
#include <net/netdev_lock.h>
#include <net/netdev_queues.h>

#include "zcrx_sim.h"

static unsigned int pairs = 1;
module_param(pairs, uint, 0444);
MODULE_PARM_DESC(pairs, "number of linked device pairs zsim<N>a/zsim<N>b (1-8, default 1)");

static unsigned int queues = 4;
module_param(queues, uint, 0444);
MODULE_PARM_DESC(queues, "rx and tx queues per device (1-16, default 4)");

#define ZSIM_MAX_PAIRS	8
#define ZSIM_MAX_QUEUES	16

/* Both ends of every pair, in creation order: a0 b0 a1 b1 ... */
static struct zsim_priv *zsim_devs[2 * ZSIM_MAX_PAIRS];

/*
 * The receive queue of @rx a frame goes to: an ntuple rule's queue, else a
 * hash of the addresses and ports (stable for a flow, unlike the socket's
 * tx hash), else queue 0.
 */
static int zsim_pick_rxq(struct zsim_priv *rx, const struct zsim_flow *flow)
{
	unsigned int n = rx->netdev->real_num_rx_queues;
	int q;
	u32 h;

	q = zsim_steer(rx, flow);
	if (q != ZSIM_STEER_NONE)
		return q;
	if (!flow->flow_type || n <= 1)
		return 0;
	if (flow->flow_type == TCP_V4_FLOW || flow->flow_type == UDP_V4_FLOW)
		h = jhash_3words((__force u32)flow->addr.v4.src,
				 (__force u32)flow->addr.v4.dst,
				 (u32)ntohs(flow->sport) << 16 | ntohs(flow->dport), 0);
	else
		h = jhash2((const u32 *)&flow->addr.v6, 8,
			   (u32)ntohs(flow->sport) << 16 | ntohs(flow->dport));
	return reciprocal_scale(h, n);
}

static netdev_tx_t zsim_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct zsim_priv *priv = netdev_priv(dev);
	u16 txi = skb_get_queue_mapping(skb);
	struct zsim_txq_stats *ts = &priv->txs[txi];
	struct netdev_queue *txq = netdev_get_tx_queue(dev, txi);
	unsigned int len = skb->len;
	struct zsim_flow flow;
	struct zsim_priv *peer;
	struct zsim_rxq *rq;
	u32 ring, high;
	int q;

	rcu_read_lock();
	peer = rcu_dereference(priv->peer);
	if (!peer || !netif_running(peer->netdev))
		goto drop;

	zsim_parse_flow(skb, &flow);
	q = zsim_pick_rxq(peer, &flow);
	if (q == ZSIM_STEER_DROP)
		goto drop;
	rq = &peer->rxq[q];

	ring = READ_ONCE(peer->rx_ring);
	if (skb_queue_len(&rq->backlog) >= ring) {
		u64_stats_update_begin(&ts->syncp);
		u64_stats_inc(&ts->ring_full);
		u64_stats_update_end(&ts->syncp);
		goto drop;
	}

	zsim_cb(skb)->hdr_len = flow.hdr_len;
	skb_tx_timestamp(skb);
	skb_queue_tail(&rq->backlog, skb);

	u64_stats_update_begin(&ts->syncp);
	u64_stats_inc(&ts->packets);
	u64_stats_add(&ts->bytes, len);
	u64_stats_update_end(&ts->syncp);
	dev_dstats_tx_add(dev, len);

	/*
	 * Back-pressure instead of drops: stop this tx queue while the peer's
	 * backlog is three quarters full; the peer's poll wakes it (see
	 * zsim_wake_peer(), which drains before it reads peer_stopped).
	 */
	high = ring - ring / 4;
	if (skb_queue_len(&rq->backlog) >= high) {
		netif_tx_stop_queue(txq);
		WRITE_ONCE(rq->peer_stopped, true);
		smp_mb();
		if (skb_queue_len(&rq->backlog) < high)
			netif_tx_start_queue(txq);
	}
	napi_schedule(&rq->napi);
	rcu_read_unlock();
	return NETDEV_TX_OK;

drop:
	rcu_read_unlock();
	dev_dstats_tx_dropped(dev);
	kfree_skb(skb);
	return NETDEV_TX_OK;
}

/*
 * Wakes the peer's tx queues and forgets that they were stopped: when this
 * end opens or stops, no poll of ours may be coming to wake them.
 */
static void zsim_release_peer_txqs(struct zsim_priv *priv, struct zsim_priv *peer)
{
	unsigned int i;

	for (i = 0; i < priv->netdev->num_rx_queues; i++)
		WRITE_ONCE(priv->rxq[i].peer_stopped, false);
	if (peer)
		netif_tx_wake_all_queues(peer->netdev);
}

static int zsim_open(struct net_device *dev)
{
	struct zsim_priv *priv = netdev_priv(dev);
	struct zsim_priv *peer;
	int err;

	netdev_assert_locked(dev);
	err = zsim_open_queues(priv);
	if (err)
		return err;
	netif_tx_start_all_queues(dev);

	peer = rtnl_dereference(priv->peer);
	if (peer && netif_running(peer->netdev)) {
		netif_carrier_on(dev);
		netif_carrier_on(peer->netdev);
	}
	zsim_release_peer_txqs(priv, peer);
	return 0;
}

static int zsim_stop(struct net_device *dev)
{
	struct zsim_priv *priv = netdev_priv(dev);
	struct zsim_priv *peer;

	netdev_assert_locked(dev);
	netif_carrier_off(dev);
	peer = rtnl_dereference(priv->peer);
	if (peer)
		netif_carrier_off(peer->netdev);
	netif_tx_stop_all_queues(dev);
	zsim_close_queues(priv);
	/* The backlog is gone: a sender stopped on it must not wait for us. */
	zsim_release_peer_txqs(priv, peer);
	return 0;
}

static int zsim_set_features(struct net_device *dev, netdev_features_t features)
{
	struct zsim_priv *priv = netdev_priv(dev);

	/* Like a real NIC: turning ntuple filtering off drops every rule. */
	if ((dev->features & NETIF_F_NTUPLE) && !(features & NETIF_F_NTUPLE))
		zsim_rules_flush(priv);
	return 0;
}

static int zsim_get_iflink(const struct net_device *dev)
{
	struct zsim_priv *priv = netdev_priv(dev);
	struct zsim_priv *peer;
	int iflink;

	rcu_read_lock();
	peer = rcu_dereference(priv->peer);
	iflink = peer ? READ_ONCE(peer->netdev->ifindex) : READ_ONCE(dev->ifindex);
	rcu_read_unlock();
	return iflink;
}

const struct net_device_ops zsim_netdev_ops = {
	.ndo_open		= zsim_open,
	.ndo_stop		= zsim_stop,
	.ndo_start_xmit		= zsim_xmit,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
	.ndo_set_features	= zsim_set_features,
	.ndo_get_iflink		= zsim_get_iflink,
};

static void zsim_setup(struct net_device *dev)
{
	ether_setup(dev);
	eth_hw_addr_random(dev);

	dev->netdev_ops = &zsim_netdev_ops;
	dev->ethtool_ops = &zsim_ethtool_ops;
	dev->stat_ops = &zsim_stat_ops;
	dev->queue_mgmt_ops = &zsim_queue_mgmt_ops;
	dev->request_ops_lock = true;
	dev->pcpu_stat_type = NETDEV_PCPU_STAT_DSTATS;
	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE;

	/* Scatter-gather and checksum offload; no TSO, no LRO. */
	dev->hw_features = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_RXCSUM |
			   NETIF_F_NTUPLE;
	dev->features = dev->hw_features | NETIF_F_HIGHDMA;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_MAX_MTU;
}

static void zsim_free_priv(struct zsim_priv *priv)
{
	struct net_device *dev = priv->netdev;
	struct platform_device *pdev = priv->pdev;
	unsigned int i;

	if (priv->rxq)
		for (i = 0; i < dev->num_rx_queues; i++)
			skb_queue_purge(&priv->rxq[i].backlog);
	zsim_rules_flush(priv);
	kfree(priv->rxq);
	kfree(priv->txs);
	free_netdev(dev);
	platform_device_unregister(pdev);
}

/* Allocates one end of a pair (not registered yet). */
static struct zsim_priv *zsim_alloc(unsigned int pair, char side)
{
	struct platform_device_info info = {
		.name = ZSIM_DRV_NAME,
		.id = pair * 2 + (side == 'b'),
		/* The simulated device reaches all memory: no bounce buffers. */
		.dma_mask = DMA_BIT_MASK(64),
	};
	struct platform_device *pdev;
	struct net_device *dev;
	struct zsim_priv *priv;
	char name[IFNAMSIZ];
	unsigned int i;

	pdev = platform_device_register_full(&info);
	if (IS_ERR(pdev))
		return ERR_CAST(pdev);
	/* The simulated DMA writes through the direct map: no IOMMU between. */
	if (device_iommu_mapped(&pdev->dev)) {
		dev_err(&pdev->dev, "behind an IOMMU; the simulated DMA needs dma-direct\n");
		platform_device_unregister(pdev);
		return ERR_PTR(-EOPNOTSUPP);
	}

	snprintf(name, sizeof(name), "zsim%u%c", pair, side);
	dev = alloc_netdev_mqs(sizeof(*priv), name, NET_NAME_PREDICTABLE,
			       zsim_setup, queues, queues);
	if (!dev) {
		platform_device_unregister(pdev);
		return ERR_PTR(-ENOMEM);
	}
	SET_NETDEV_DEV(dev, &pdev->dev);
	netdev_lockdep_set_classes(dev);

	priv = netdev_priv(dev);
	priv->netdev = dev;
	priv->pdev = pdev;
	priv->pair = pair;
	priv->side = side;
	priv->rx_ring = ZSIM_RING_DEFAULT;
	priv->tx_ring = ZSIM_RING_DEFAULT;
	/* Header split on, threshold 0: what ZCRX needs, without ethtool. */
	priv->hds_enabled = 1;
	priv->hds_thresh = 0;
	dev->cfg->hds_config = ETHTOOL_TCP_DATA_SPLIT_ENABLED;
	dev->cfg->hds_thresh = 0;

	priv->rxq = kcalloc(dev->num_rx_queues, sizeof(*priv->rxq), GFP_KERNEL);
	priv->txs = kcalloc(dev->num_tx_queues, sizeof(*priv->txs), GFP_KERNEL);
	if (!priv->rxq || !priv->txs) {
		zsim_free_priv(priv);
		return ERR_PTR(-ENOMEM);
	}
	for (i = 0; i < dev->num_rx_queues; i++) {
		struct zsim_rxq *rq = &priv->rxq[i];

		rq->priv = priv;
		rq->idx = i;
		rq->buf_size = PAGE_SIZE;
		skb_queue_head_init(&rq->backlog);
		u64_stats_init(&rq->stats.syncp);
		/* The NAPI lives as long as the device; open/stop enable it. */
		netif_napi_add_config(dev, &rq->napi, zsim_poll, i);
	}
	for (i = 0; i < dev->num_tx_queues; i++)
		u64_stats_init(&priv->txs[i].syncp);
	netif_carrier_off(dev);
	return priv;
}

static int zsim_create_pair(unsigned int pair)
{
	struct zsim_priv *a, *b;
	int err;

	a = zsim_alloc(pair, 'a');
	if (IS_ERR(a))
		return PTR_ERR(a);
	b = zsim_alloc(pair, 'b');
	if (IS_ERR(b)) {
		zsim_free_priv(a);
		return PTR_ERR(b);
	}

	rtnl_lock();
	err = register_netdevice(a->netdev);
	if (err)
		goto err_unlock;
	err = register_netdevice(b->netdev);
	if (err)
		goto err_unregister_a;
	rcu_assign_pointer(a->peer, b);
	rcu_assign_pointer(b->peer, a);
	rtnl_unlock();

	zsim_devs[2 * pair] = a;
	zsim_devs[2 * pair + 1] = b;
	netdev_info(a->netdev, "peer %s, %u rx/tx queues\n", b->netdev->name,
		    a->netdev->real_num_rx_queues);
	return 0;

err_unregister_a:
	unregister_netdevice(a->netdev);
err_unlock:
	rtnl_unlock();
	zsim_free_priv(b);
	zsim_free_priv(a);
	return err;
}

static void zsim_destroy_pair(unsigned int pair)
{
	struct zsim_priv *a = zsim_devs[2 * pair], *b = zsim_devs[2 * pair + 1];

	if (!a || !b)
		return;
	/* Unlink first so that neither transmits into the other any more. */
	rtnl_lock();
	RCU_INIT_POINTER(a->peer, NULL);
	RCU_INIT_POINTER(b->peer, NULL);
	rtnl_unlock();
	synchronize_net();

	unregister_netdev(a->netdev);
	unregister_netdev(b->netdev);
	zsim_free_priv(a);
	zsim_free_priv(b);
	zsim_devs[2 * pair] = NULL;
	zsim_devs[2 * pair + 1] = NULL;
}

static int __init zsim_init(void)
{
	unsigned int i;
	int err;

	if (pairs < 1 || pairs > ZSIM_MAX_PAIRS) {
		pr_err(ZSIM_DRV_NAME ": pairs=%u out of range 1-%u\n", pairs,
		       ZSIM_MAX_PAIRS);
		return -EINVAL;
	}
	if (queues < 1 || queues > ZSIM_MAX_QUEUES) {
		pr_err(ZSIM_DRV_NAME ": queues=%u out of range 1-%u\n", queues,
		       ZSIM_MAX_QUEUES);
		return -EINVAL;
	}
	for (i = 0; i < pairs; i++) {
		err = zsim_create_pair(i);
		if (err) {
			while (i--)
				zsim_destroy_pair(i);
			return err;
		}
	}
	return 0;
}

static void __exit zsim_exit(void)
{
	unsigned int i;

	for (i = 0; i < ZSIM_MAX_PAIRS; i++)
		zsim_destroy_pair(i);
}

module_init(zsim_init);
module_exit(zsim_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Simulated header-split NIC pairs for testing io_uring zero-copy receive");
