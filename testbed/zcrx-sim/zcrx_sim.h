/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * zcrx-sim: pairs of simulated Ethernet devices with header split and
 * per-queue page pools, so that io_uring zero-copy receive (ZCRX) runs in
 * NIC mode without hardware. Test-only; see README.md.
 */
#ifndef ZCRX_SIM_H
#define ZCRX_SIM_H

#include <linux/ethtool.h>
#include <linux/netdevice.h>
#include <linux/platform_device.h>
#include <linux/skbuff.h>
#include <linux/u64_stats_sync.h>

#define ZSIM_DRV_NAME		"zcrx_sim"

/* Receive backlog per queue, in frames (ethtool -G rx). */
#define ZSIM_RING_DEFAULT	1024
#define ZSIM_RING_MIN		64
#define ZSIM_RING_MAX		8192

/* Largest header-split threshold accepted (ethtool -G hds-thresh). */
#define ZSIM_HDS_THRESH_MAX	4096

/* Largest receive buffer (queue config rx_page_size): 64 KiB. */
#define ZSIM_MAX_BUF_ORDER	4

/* Size of the ntuple rule table. */
#define ZSIM_MAX_RULES		64

struct zsim_priv;

/* Per-rx-queue counters; written only by the queue's NAPI poll. */
struct zsim_rxq_stats {
	struct u64_stats_sync syncp;
	u64_stats_t packets;
	u64_stats_t bytes;
	u64_stats_t hds_packets;	/* frames whose payload went to pool buffers */
	u64_stats_t alloc_fail;		/* frames dropped: no buffer from the pool */
	u64_stats_t dropped;		/* other receive drops */
};

/* Per-tx-queue counters; written under the tx queue's lock. */
struct zsim_txq_stats {
	struct u64_stats_sync syncp;
	u64_stats_t packets;
	u64_stats_t bytes;
	u64_stats_t ring_full;		/* dropped: the peer's rx backlog was full */
};

struct zsim_rxq {
	struct zsim_priv *priv;
	unsigned int idx;
	struct napi_struct napi;
	/* Frames handed over by the peer's transmit, not yet received. */
	struct sk_buff_head backlog;
	/* The peer stopped a tx queue because this backlog filled up. */
	bool peer_stopped;
	/* The buffer pool of the running queue (NULL while stopped). */
	struct page_pool *pool;
	/* Bytes per pool buffer: PAGE_SIZE << order. */
	unsigned int buf_size;
	struct zsim_rxq_stats stats;
};

/* One ntuple rule; replaced, never modified, once published. */
struct zsim_rule {
	struct rcu_head rcu;
	struct ethtool_rx_flow_spec fs;
};

struct zsim_priv {
	struct net_device *netdev;
	struct platform_device *pdev;
	struct zsim_priv __rcu *peer;
	unsigned int pair;		/* index of the pair */
	char side;			/* 'a' or 'b' */
	struct zsim_rxq *rxq;		/* netdev->num_rx_queues entries */
	struct zsim_txq_stats *txs;	/* netdev->num_tx_queues entries */
	/* Ring parameters (ethtool -G), read locklessly by the data path. */
	u32 rx_ring;
	u32 tx_ring;
	u8 hds_enabled;
	u32 hds_thresh;
	struct zsim_rule __rcu *rules[ZSIM_MAX_RULES];
};

/*
 * What the transmit side learnt about a frame, carried to the receive side
 * in skb->cb.
 */
struct zsim_cb {
	/* Ethernet + IP + TCP header length of a TCP segment with payload, else 0. */
	u16 hdr_len;
};

static inline struct zsim_cb *zsim_cb(struct sk_buff *skb)
{
	BUILD_BUG_ON(sizeof(struct zsim_cb) > sizeof(skb->cb));
	return (struct zsim_cb *)skb->cb;
}

/* The fields of an IPv4/IPv6 TCP/UDP frame that steering and split use. */
struct zsim_flow {
	u32 flow_type;			/* TCP_V4_FLOW ... or 0 if none */
	union {
		struct { __be32 src, dst; } v4;
		struct { __be32 src[4], dst[4]; } v6;
	} addr;
	__be16 sport, dport;
	u8 tos;				/* IPv4 TOS or IPv6 traffic class */
	u16 hdr_len;			/* for TCP: all headers; else 0 */
};

/* main.c */
extern const struct net_device_ops zsim_netdev_ops;

/* queue.c: page pools and queue management */
extern const struct netdev_queue_mgmt_ops zsim_queue_mgmt_ops;
int zsim_pool_create(struct zsim_priv *priv, unsigned int idx,
		     unsigned int buf_size, struct page_pool **out);
int zsim_open_queues(struct zsim_priv *priv);
void zsim_close_queues(struct zsim_priv *priv);

/* rx.c: the receive path */
int zsim_poll(struct napi_struct *napi, int budget);
bool zsim_parse_flow(const struct sk_buff *skb, struct zsim_flow *flow);

/* ethtool.c: ethtool ops and ntuple steering */
#define ZSIM_STEER_NONE		(-1)	/* no rule matched */
#define ZSIM_STEER_DROP		(-2)	/* a rule says: discard */
extern const struct ethtool_ops zsim_ethtool_ops;
int zsim_steer(struct zsim_priv *rx, const struct zsim_flow *flow);
void zsim_rules_flush(struct zsim_priv *priv);

/* stats.c: per-queue statistics */
extern const struct netdev_stat_ops zsim_stat_ops;

#endif /* ZCRX_SIM_H */
