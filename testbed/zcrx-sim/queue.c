// SPDX-License-Identifier: GPL-2.0-only
/*
 * zcrx-sim: the buffer pools of the receive queues and the queue management
 * ops the core uses to restart one queue (e.g. to bind a memory provider).
 *
 * Each rx queue owns one page pool, created for that queue with
 * PP_FLAG_ALLOW_UNREADABLE_NETMEM: when a memory provider (io_uring ZCRX,
 * devmem) is bound to the queue, the pool hands out the provider's buffers.
 * The NAPI of a queue lives as long as the device; a restart swaps only the
 * pool (and the buffer size).
 */

#include <linux/netdevice.h>
#include <net/netdev_lock.h>
#include <net/netdev_queues.h>
#include <net/netdev_rx_queue.h>
#include <net/page_pool/helpers.h>

#include "zcrx_sim.h"

/* The memory of one queue between mem_alloc and start, or stop and mem_free. */
struct zsim_qmem {
	struct page_pool *pool;
	unsigned int buf_size;
};

int zsim_pool_create(struct zsim_priv *priv, unsigned int idx,
		     unsigned int buf_size, struct page_pool **out)
{
	struct page_pool_params pp = {
		.order = ilog2(buf_size) - PAGE_SHIFT,
		.pool_size = READ_ONCE(priv->rx_ring),
		.nid = NUMA_NO_NODE,
		/* The DMA device ndo_queue_get_dma_dev reports. */
		.dev = &priv->pdev->dev,
		.napi = &priv->rxq[idx].napi,
		.dma_dir = DMA_FROM_DEVICE,
		.max_len = buf_size,
		.offset = 0,
		/*
		 * Named explicitly: at mem_alloc time the queue's NAPI may not
		 * be running, and the core reads the queue's memory provider
		 * through this device.
		 */
		.netdev = priv->netdev,
		.queue_idx = idx,
		.flags = PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV |
			 PP_FLAG_ALLOW_UNREADABLE_NETMEM,
	};
	struct page_pool *pool;

	if (!is_power_of_2(buf_size) || buf_size < PAGE_SIZE ||
	    buf_size > (PAGE_SIZE << ZSIM_MAX_BUF_ORDER))
		return -ERANGE;
	pool = page_pool_create(&pp);
	if (IS_ERR(pool))
		return PTR_ERR(pool);
	*out = pool;
	return 0;
}

static unsigned int zsim_qcfg_buf_size(const struct netdev_queue_config *qcfg)
{
	return qcfg->rx_page_size ? qcfg->rx_page_size : PAGE_SIZE;
}

/* Creates every queue's pool and starts its NAPI (ndo_open). */
int zsim_open_queues(struct zsim_priv *priv)
{
	struct net_device *dev = priv->netdev;
	struct netdev_queue_config qcfg;
	unsigned int i;
	int err;

	for (i = 0; i < dev->real_num_rx_queues; i++) {
		struct zsim_rxq *rq = &priv->rxq[i];

		netdev_queue_config(dev, i, &qcfg);
		rq->buf_size = zsim_qcfg_buf_size(&qcfg);
		err = zsim_pool_create(priv, i, rq->buf_size, &rq->pool);
		if (err)
			goto err_destroy;
	}
	for (i = 0; i < dev->real_num_rx_queues; i++) {
		struct zsim_rxq *rq = &priv->rxq[i];

		napi_enable_locked(&rq->napi);
		netif_queue_set_napi(dev, i, NETDEV_QUEUE_TYPE_RX, &rq->napi);
	}
	return 0;

err_destroy:
	while (i--) {
		page_pool_destroy(priv->rxq[i].pool);
		priv->rxq[i].pool = NULL;
	}
	return err;
}

/* Stops every queue's NAPI and destroys its pool (ndo_stop). */
void zsim_close_queues(struct zsim_priv *priv)
{
	struct net_device *dev = priv->netdev;
	unsigned int i;

	for (i = 0; i < dev->real_num_rx_queues; i++) {
		netif_queue_set_napi(dev, i, NETDEV_QUEUE_TYPE_RX, NULL);
		napi_disable_locked(&priv->rxq[i].napi);
	}
	synchronize_net();
	for (i = 0; i < dev->real_num_rx_queues; i++) {
		struct zsim_rxq *rq = &priv->rxq[i];

		page_pool_destroy(rq->pool);
		rq->pool = NULL;
		skb_queue_purge(&rq->backlog);
	}
}

static void zsim_default_qcfg(struct net_device *dev,
			      struct netdev_queue_config *qcfg)
{
	qcfg->rx_page_size = PAGE_SIZE;
}

static int zsim_validate_qcfg(struct net_device *dev,
			      struct netdev_queue_config *qcfg,
			      struct netlink_ext_ack *extack)
{
	unsigned int size = zsim_qcfg_buf_size(qcfg);

	if (!is_power_of_2(size) || size < PAGE_SIZE ||
	    size > (PAGE_SIZE << ZSIM_MAX_BUF_ORDER)) {
		NL_SET_ERR_MSG_FMT(extack,
				   "rx_page_size %u: not a power of two between %lu and %lu",
				   size, PAGE_SIZE, PAGE_SIZE << ZSIM_MAX_BUF_ORDER);
		return -ERANGE;
	}
	return 0;
}

static int zsim_queue_mem_alloc(struct net_device *dev,
				struct netdev_queue_config *qcfg,
				void *per_queue_mem, int idx)
{
	struct zsim_priv *priv = netdev_priv(dev);
	struct zsim_qmem *qm = per_queue_mem;

	qm->buf_size = zsim_qcfg_buf_size(qcfg);
	return zsim_pool_create(priv, idx, qm->buf_size, &qm->pool);
}

static void zsim_queue_mem_free(struct net_device *dev, void *per_queue_mem)
{
	struct zsim_qmem *qm = per_queue_mem;

	page_pool_destroy(qm->pool);
	qm->pool = NULL;
}

static int zsim_queue_start(struct net_device *dev,
			    struct netdev_queue_config *qcfg,
			    void *per_queue_mem, int idx)
{
	struct zsim_priv *priv = netdev_priv(dev);
	struct zsim_qmem *qm = per_queue_mem;
	struct zsim_rxq *rq = &priv->rxq[idx];

	netdev_assert_locked(dev);
	rq->pool = qm->pool;
	rq->buf_size = qm->buf_size;
	qm->pool = NULL;
	napi_enable_locked(&rq->napi);
	/* Frames that arrived while the queue was stopped. */
	if (!skb_queue_empty_lockless(&rq->backlog)) {
		local_bh_disable();
		napi_schedule(&rq->napi);
		local_bh_enable();
	}
	return 0;
}

static int zsim_queue_stop(struct net_device *dev, void *per_queue_mem, int idx)
{
	struct zsim_priv *priv = netdev_priv(dev);
	struct zsim_qmem *qm = per_queue_mem;
	struct zsim_rxq *rq = &priv->rxq[idx];

	netdev_assert_locked(dev);
	napi_disable_locked(&rq->napi);
	qm->pool = rq->pool;
	qm->buf_size = rq->buf_size;
	rq->pool = NULL;
	/* The pool outlives the NAPI's run; no direct recycling into it. */
	if (qm->pool)
		page_pool_disable_direct_recycling(qm->pool);
	return 0;
}

static struct device *zsim_queue_get_dma_dev(struct net_device *dev, int idx)
{
	struct zsim_priv *priv = netdev_priv(dev);

	return &priv->pdev->dev;
}

const struct netdev_queue_mgmt_ops zsim_queue_mgmt_ops = {
	.ndo_queue_mem_size	= sizeof(struct zsim_qmem),
	.ndo_queue_mem_alloc	= zsim_queue_mem_alloc,
	.ndo_queue_mem_free	= zsim_queue_mem_free,
	.ndo_queue_start	= zsim_queue_start,
	.ndo_queue_stop		= zsim_queue_stop,
	.ndo_default_qcfg	= zsim_default_qcfg,
	.ndo_validate_qcfg	= zsim_validate_qcfg,
	.ndo_queue_get_dma_dev	= zsim_queue_get_dma_dev,
	.supported_params	= QCFG_RX_PAGE_SIZE,
};
