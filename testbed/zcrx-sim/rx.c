// SPDX-License-Identifier: GPL-2.0-only
/*
 * zcrx-sim: the receive path.
 *
 * The peer's transmit queues each frame on one of our rx queues (see
 * main.c). Our NAPI poll then plays the NIC: for a TCP segment with payload
 * while header split is on, the headers go into a small linear skb and the
 * payload into buffers taken from the queue's page pool, written through
 * their DMA address (the "DMA" is a CPU copy into the memory that address
 * maps to). When io_uring ZCRX is bound to the queue those buffers are the
 * user's area. Everything else (ARP, UDP, pure ACKs, header split off) is
 * passed on unchanged, as a frame forwarded between two devices.
 */

#include <linux/dma-direct.h>
#include <linux/etherdevice.h>
#include <linux/highmem.h>
#include <linux/if_vlan.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/dsfield.h>
#include <net/ip.h>
#include <net/page_pool/helpers.h>

#include "zcrx_sim.h"

bool zsim_parse_flow(const struct sk_buff *skb, struct zsim_flow *f)
{
	unsigned int off = ETH_HLEN, l3_end;
	const struct ethhdr *eth;
	struct ethhdr eth_buf;
	bool v6;
	u8 proto;

	memset(f, 0, sizeof(*f));
	eth = skb_header_pointer(skb, 0, sizeof(eth_buf), &eth_buf);
	if (!eth)
		return false;

	if (eth->h_proto == htons(ETH_P_IP)) {
		const struct iphdr *ip;
		struct iphdr ip_buf;

		ip = skb_header_pointer(skb, off, sizeof(ip_buf), &ip_buf);
		if (!ip || ip->version != 4 || ip->ihl < 5)
			return false;
		/* Fragments carry no (or a partial) transport header. */
		if (ip->frag_off & htons(IP_MF | IP_OFFSET))
			return false;
		proto = ip->protocol;
		f->addr.v4.src = ip->saddr;
		f->addr.v4.dst = ip->daddr;
		f->tos = ip->tos;
		l3_end = off + ntohs(ip->tot_len);
		off += ip->ihl * 4;
		v6 = false;
	} else if (eth->h_proto == htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6;
		struct ipv6hdr ip6_buf;

		ip6 = skb_header_pointer(skb, off, sizeof(ip6_buf), &ip6_buf);
		if (!ip6 || ip6->version != 6)
			return false;
		/* Extension headers are not parsed: such frames are not split. */
		proto = ip6->nexthdr;
		memcpy(f->addr.v6.src, &ip6->saddr, sizeof(f->addr.v6.src));
		memcpy(f->addr.v6.dst, &ip6->daddr, sizeof(f->addr.v6.dst));
		f->tos = ipv6_get_dsfield(ip6);
		off += sizeof(*ip6);
		l3_end = off + ntohs(ip6->payload_len);
		v6 = true;
	} else {
		return false;
	}

	if (proto == IPPROTO_TCP) {
		const struct tcphdr *th;
		struct tcphdr th_buf;
		unsigned int hdr;

		th = skb_header_pointer(skb, off, sizeof(th_buf), &th_buf);
		if (!th || th->doff < 5)
			return false;
		f->flow_type = v6 ? TCP_V6_FLOW : TCP_V4_FLOW;
		f->sport = th->source;
		f->dport = th->dest;
		hdr = off + th->doff * 4;
		/* Split only a segment that carries payload. */
		if (hdr < l3_end && hdr < skb->len && hdr <= U16_MAX)
			f->hdr_len = hdr;
	} else if (proto == IPPROTO_UDP) {
		const struct udphdr *uh;
		struct udphdr uh_buf;

		uh = skb_header_pointer(skb, off, sizeof(uh_buf), &uh_buf);
		if (!uh)
			return false;
		f->flow_type = v6 ? UDP_V6_FLOW : UDP_V4_FLOW;
		f->sport = uh->source;
		f->dport = uh->dest;
	} else {
		return false;
	}
	return true;
}

/*
 * The simulated DMA: writes @len bytes of @frame at @off into the buffer
 * @netmem, through the buffer's DMA address. There is no IOMMU in front of
 * the simulated device (dma-direct), so the address maps to physical
 * memory one to one; the bytes are copied page by page through a temporary
 * kernel mapping. Works for readable pages and for a provider's net_iovs
 * alike, as a device's DMA engine would.
 */
static int zsim_dma_write(struct page_pool *pool, netmem_ref netmem,
			  const struct sk_buff *frame, unsigned int off,
			  unsigned int len)
{
	dma_addr_t dma = page_pool_get_dma_addr_netmem(netmem) + pool->p.offset;
	phys_addr_t phys = dma_to_phys(pool->p.dev, dma);

	while (len) {
		unsigned long pfn = PHYS_PFN(phys);
		unsigned int in_page = offset_in_page(phys);
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE - in_page);
		void *va;
		int err;

		if (!pfn_valid(pfn))
			return -EFAULT;
		va = kmap_local_page(pfn_to_page(pfn));
		err = skb_copy_bits(frame, off, va + in_page, n);
		kunmap_local(va);
		if (err)
			return err;
		phys += n;
		off += n;
		len -= n;
	}
	return 0;
}

static void zsim_count(struct zsim_rxq *rq, u64_stats_t *counter)
{
	u64_stats_update_begin(&rq->stats.syncp);
	u64_stats_inc(counter);
	u64_stats_update_end(&rq->stats.syncp);
}

/*
 * Header split: a new skb with the first @hdr_len bytes of @frame in its
 * linear part and the rest in pool buffers of rq->buf_size bytes each.
 * Returns NULL (counted) when the pool has no buffer left or the payload
 * needs more fragments than an skb holds.
 */
static struct sk_buff *zsim_split(struct zsim_rxq *rq, struct sk_buff *frame,
				  unsigned int hdr_len)
{
	struct page_pool *pool = rq->pool;
	unsigned int off = hdr_len, left = frame->len - hdr_len;
	struct sk_buff *skb;
	int nr = 0;

	skb = napi_alloc_skb(&rq->napi, hdr_len);
	if (!skb)
		goto err_count;
	/* Pool buffers go back to the pool when the skb is freed. */
	skb_mark_for_recycle(skb);
	if (skb_copy_bits(frame, 0, skb_put(skb, hdr_len), hdr_len))
		goto err_free;

	while (left) {
		unsigned int len = min(left, rq->buf_size);
		netmem_ref netmem;

		if (nr == MAX_SKB_FRAGS)
			goto err_free;
		netmem = page_pool_alloc_netmems(pool, GFP_ATOMIC | __GFP_NOWARN);
		if (!netmem) {
			zsim_count(rq, &rq->stats.alloc_fail);
			kfree_skb(skb);
			return NULL;
		}
		if (zsim_dma_write(pool, netmem, frame, off, len)) {
			page_pool_put_full_netmem(pool, netmem, true);
			goto err_free;
		}
		page_pool_dma_sync_netmem_for_cpu(pool, netmem, 0, len);
		skb_add_rx_frag_netmem(skb, nr++, netmem, 0, len, rq->buf_size);
		off += len;
		left -= len;
	}

	skb->protocol = eth_type_trans(skb, rq->priv->netdev);
	/* The payload was not summed on the way; the sender's stack did. */
	skb->ip_summed = CHECKSUM_UNNECESSARY;
	zsim_count(rq, &rq->stats.hds_packets);
	return skb;

err_free:
	kfree_skb(skb);
err_count:
	zsim_count(rq, &rq->stats.dropped);
	return NULL;
}

static void zsim_receive(struct zsim_rxq *rq, struct sk_buff *frame)
{
	struct zsim_priv *priv = rq->priv;
	struct net_device *dev = priv->netdev;
	unsigned int hdr_len = zsim_cb(frame)->hdr_len;
	unsigned int len = frame->len;
	struct sk_buff *skb;

	if (hdr_len && READ_ONCE(priv->hds_enabled) && rq->pool &&
	    len > READ_ONCE(priv->hds_thresh) && !skb_is_gso(frame)) {
		if (!is_skb_forwardable(dev, frame)) {
			zsim_count(rq, &rq->stats.dropped);
			kfree_skb(frame);
			dev_dstats_rx_dropped(dev);
			return;
		}
		skb = zsim_split(rq, frame, hdr_len);
		consume_skb(frame);
		if (!skb) {
			dev_dstats_rx_dropped(dev);
			return;
		}
	} else {
		/* Leaves the sender's namespace behind; frees on failure. */
		if (__dev_forward_skb(dev, frame)) {
			zsim_count(rq, &rq->stats.dropped);
			return;
		}
		skb = frame;
	}

	skb_record_rx_queue(skb, rq->idx);
	u64_stats_update_begin(&rq->stats.syncp);
	u64_stats_inc(&rq->stats.packets);
	u64_stats_add(&rq->stats.bytes, len);
	u64_stats_update_end(&rq->stats.syncp);
	dev_dstats_rx_add(dev, len);
	napi_gro_receive(&rq->napi, skb);
}

/* Wakes the peer's tx queues stopped because this backlog was full. */
static void zsim_wake_peer(struct zsim_rxq *rq)
{
	struct zsim_priv *peer;

	smp_mb();
	if (!READ_ONCE(rq->peer_stopped))
		return;
	WRITE_ONCE(rq->peer_stopped, false);
	rcu_read_lock();
	peer = rcu_dereference(rq->priv->peer);
	if (peer)
		netif_tx_wake_all_queues(peer->netdev);
	rcu_read_unlock();
}

int zsim_poll(struct napi_struct *napi, int budget)
{
	struct zsim_rxq *rq = container_of(napi, struct zsim_rxq, napi);
	struct sk_buff *frame;
	int done = 0;

	while (done < budget && (frame = skb_dequeue(&rq->backlog))) {
		zsim_receive(rq, frame);
		done++;
	}
	if (skb_queue_len(&rq->backlog) < READ_ONCE(rq->priv->rx_ring) / 2)
		zsim_wake_peer(rq);
	if (done < budget)
		napi_complete_done(napi, done);
	return done;
}
