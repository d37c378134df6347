// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 the uacce-rs authors
 *
 * mock_hisi_qm: a parent driver for the real uacce core that looks, from
 * userspace, like one HiSilicon ZIP function on QM hardware v2 (Kunpeng 920).
 * It exists only to run the uacce-rs kernel conformance suite in a QEMU guest
 * without the hardware.
 *
 * What userspace sees (uacce-rs abi.md §2, §3, §4):
 *  - a uacce device "hisi_zip-<id>" on a platform device parent, api
 *    "hisi_qm_v2", algorithms "zlib\ngzip", flags asked for SVA (the core's
 *    negotiation drops it without an IOMMU, so sysfs shows 0);
 *  - MMIO region of 1 + 0x1000/PAGE_SIZE pages with the doorbell at +0x1000;
 *  - DUS region of PAGE_ALIGN(128 * depth + 16 * depth) + PAGE_SIZE bytes:
 *    SQ at 0, CQ right after the SQ, TX/RX status words in the last 8 bytes;
 *  - a fixed, small number of queues, so that open() runs out with EBUSY;
 *  - the SET_QP_CTX and SET_QP_INFO ioctls of the hisi_qm driver;
 *  - poll() readiness computed like hisi_qm: a kernel-side shadow CQ head that
 *    walks the phase bits.
 *  - a writable "reset" module parameter that raises the TX/RX status words
 *    the way hisi_qm announces a device reset.
 *
 * The "hardware" is a kernel thread. The MMIO and DUS regions are ordinary
 * kernel pages mapped into the process with remap_pfn_range(). The thread
 * watches the 64-bit doorbell word at MMIO + 0x1000; an SQ doorbell whose qn
 * names the queue makes it complete every SQE from its own head up to the
 * doorbell's index, in order, the way the QM does: status 0 is written into
 * dw3 bits 0-7 of the SQE slot (everything else in the slot, the tag
 * included, is left as userspace wrote it), then a CQE {sq_head = slot,
 * sq_num = qn, w7 bit 0 = phase} goes to the CQ tail (phase starts at 1 and
 * flips after entry depth - 1), then poll() waiters are woken. Data buffers
 * are never touched.
 *
 * Limitation of emulating a doorbell register with plain memory: the thread
 * sees the latest value only. A CQ doorbell written before the thread read
 * the preceding SQ doorbell hides that SQ doorbell until the next one.
 * Userspace that waits for a completion before consuming older ones (as the
 * conformance program does) never hits this.
 */

#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uacce.h>
#include <linux/uaccess.h>
#include <uapi/misc/uacce/hisi_qm.h>

#define MOCK_NAME		"hisi_zip"
#define MOCK_SQE_SIZE		128
#define MOCK_CQE_SIZE		16
#define MOCK_DB_OFFSET		0x1000
#define MOCK_MMIO_SIZE		(PAGE_SIZE + (0x1000 / PAGE_SIZE) * PAGE_SIZE)
#define MOCK_MAX_QUEUES		16

/* CQE field offsets (abi.md §4.4). */
#define CQE_SQ_HEAD		8
#define CQE_SQ_NUM		10
#define CQE_W7			14

static unsigned int depth = 1024;
module_param(depth, uint, 0444);
MODULE_PARM_DESC(depth, "SQ and CQ depth (2..1024, default 1024 as on QM v2)");

static unsigned int queues = 2;
module_param(queues, uint, 0444);
MODULE_PARM_DESC(queues, "number of queues of the function (1..16, default 2)");

/* Serialises the "reset" parameter against module init and exit. */
static DEFINE_MUTEX(mock_lock);
static bool reset;

struct mock_qp {
	/* Protects everything below against the device thread. */
	spinlock_t lock;
	u16 id;
	bool in_use;
	bool started;
	struct uacce_queue *uq;
	void *mmio;		/* MOCK_MMIO_SIZE bytes */
	void *dus;		/* dus_size bytes */
	/* Device side of the rings. */
	u16 sq_head;
	u16 cq_tail;
	u8 cq_phase;
	u64 last_db;
	/* Kernel shadow of the CQ head for poll(), as hisi_qm keeps one. */
	u16 shadow_cq_head;
	u8 shadow_phase;
};

struct mock_dev {
	struct platform_device *pdev;
	struct uacce_device *uacce;
	struct task_struct *thread;
	/* Protects in_use and used. */
	spinlock_t alloc_lock;
	unsigned int used;
	size_t dus_size;
	struct mock_qp qp[MOCK_MAX_QUEUES];
};

static struct mock_dev *mock;

/*
 * Writing 1 to /sys/module/mock_hisi_qm/parameters/reset plays a device
 * reset as hisi_qm announces it to userspace (abi.md §3.3): TX status word = 1
 * (stop submitting), then RX status word = 1 (stop consuming), in every
 * queue's DUS. Writing 0 clears both.
 */
static int mock_set_reset(const char *val, const struct kernel_param *kp)
{
	unsigned int i;
	bool on;
	int ret;

	ret = kstrtobool(val, &on);
	if (ret)
		return ret;
	mutex_lock(&mock_lock);
	reset = on;
	if (mock) {
		for (i = 0; i < queues; i++) {
			struct mock_qp *qp = &mock->qp[i];
			u32 *tx = qp->dus + mock->dus_size - 4;
			u32 *rx = qp->dus + mock->dus_size - 8;

			spin_lock(&qp->lock);
			WRITE_ONCE(*tx, on);
			wmb();
			WRITE_ONCE(*rx, on);
			spin_unlock(&qp->lock);
		}
	}
	mutex_unlock(&mock_lock);
	return 0;
}

static const struct kernel_param_ops mock_reset_ops = {
	.set = mock_set_reset,
	.get = param_get_bool,
};
module_param_cb(reset, &mock_reset_ops, &reset, 0644);
MODULE_PARM_DESC(reset, "1: announce a device reset in every queue's TX/RX status words; 0: clear them");

static void *mock_cq(struct mock_qp *qp)
{
	return qp->dus + (size_t)MOCK_SQE_SIZE * depth;
}

static void mock_reset_rings(struct mock_qp *qp)
{
	qp->sq_head = 0;
	qp->cq_tail = 0;
	qp->cq_phase = 1;
	qp->last_db = 0;
	qp->shadow_cq_head = 0;
	qp->shadow_phase = 1;
	WRITE_ONCE(*(u64 *)(qp->mmio + MOCK_DB_OFFSET), 0);
}

/* Completes the SQE at the device's head: status into the slot, then a CQE. */
static void mock_complete_one(struct mock_qp *qp)
{
	u32 *dw3 = qp->dus + (size_t)qp->sq_head * MOCK_SQE_SIZE + 3 * 4;
	void *cqe = mock_cq(qp) + (size_t)qp->cq_tail * MOCK_CQE_SIZE;

	/* Read the SQE only after the doorbell was seen (device-side rmb). */
	rmb();
	WRITE_ONCE(*dw3, READ_ONCE(*dw3) & ~0xffU);
	/* The slot's result must be visible before the CQE that announces it. */
	wmb();
	WRITE_ONCE(*(u16 *)(cqe + CQE_SQ_HEAD), qp->sq_head);
	WRITE_ONCE(*(u16 *)(cqe + CQE_SQ_NUM), qp->id);
	wmb();
	/* The phase bit goes last: it is what userspace polls. */
	WRITE_ONCE(*(u16 *)(cqe + CQE_W7), qp->cq_phase);

	qp->sq_head = (qp->sq_head + 1) % depth;
	if (++qp->cq_tail == depth) {
		qp->cq_tail = 0;
		qp->cq_phase ^= 1;
	}
}

/* Called with qp->lock held on a started queue. Returns true if it completed work. */
static bool mock_service(struct mock_qp *qp)
{
	u64 db = READ_ONCE(*(u64 *)(qp->mmio + MOCK_DB_OFFSET));
	u16 qn = db & 0xfff;
	u8 cmd = (db >> 12) & 0xf;
	u16 rand = (db >> 16) & 0xffff;
	u16 index = (db >> 32) & 0xffff;
	bool done = false;

	if (db == qp->last_db)
		return false;
	qp->last_db = db;
	/* Doorbells for another queue or with a stale token are dropped (abi.md §9). */
	if (qn != qp->id || rand != 0 || cmd != 0 || index >= depth)
		return false;
	while (qp->sq_head != index) {
		mock_complete_one(qp);
		done = true;
	}
	return done;
}

static int mock_thread_fn(void *data)
{
	struct mock_dev *md = data;

	while (!kthread_should_stop()) {
		bool active = false;
		unsigned int i;

		for (i = 0; i < queues; i++) {
			struct mock_qp *qp = &md->qp[i];
			struct uacce_queue *woken = NULL;

			spin_lock(&qp->lock);
			if (qp->started) {
				active = true;
				if (mock_service(qp))
					woken = qp->uq;
			}
			/*
			 * Waking under the lock keeps uq alive: put_queue
			 * clears it under the same lock.
			 */
			if (woken)
				wake_up_interruptible(&woken->wait);
			spin_unlock(&qp->lock);
		}
		if (active)
			usleep_range(20, 60);
		else
			schedule_timeout_interruptible(msecs_to_jiffies(2));
	}
	return 0;
}

static int mock_get_available_instances(struct uacce_device *uacce)
{
	struct mock_dev *md = uacce->priv;
	int free;

	spin_lock(&md->alloc_lock);
	free = queues - md->used;
	spin_unlock(&md->alloc_lock);
	return free;
}

static int mock_get_queue(struct uacce_device *uacce, unsigned long arg,
			  struct uacce_queue *q)
{
	struct mock_dev *md = uacce->priv;
	struct mock_qp *qp = NULL;
	unsigned int i;

	spin_lock(&md->alloc_lock);
	for (i = 0; i < queues; i++) {
		if (!md->qp[i].in_use) {
			qp = &md->qp[i];
			qp->in_use = true;
			md->used++;
			break;
		}
	}
	spin_unlock(&md->alloc_lock);
	if (!qp)
		return -EBUSY;

	/* A fresh queue pair: zeroed rings and status words (abi.md §3.3). */
	memset(qp->dus, 0, md->dus_size);
	memset(qp->mmio, 0, MOCK_MMIO_SIZE);
	spin_lock(&qp->lock);
	mock_reset_rings(qp);
	qp->uq = q;
	spin_unlock(&qp->lock);
	q->priv = qp;
	return 0;
}

static void mock_put_queue(struct uacce_queue *q)
{
	struct mock_dev *md = q->uacce->priv;
	struct mock_qp *qp = q->priv;

	spin_lock(&qp->lock);
	qp->started = false;
	qp->uq = NULL;
	spin_unlock(&qp->lock);

	spin_lock(&md->alloc_lock);
	qp->in_use = false;
	md->used--;
	spin_unlock(&md->alloc_lock);
}

static int mock_start_queue(struct uacce_queue *q)
{
	struct mock_qp *qp = q->priv;

	/* START_Q resets the hardware ring state and the CQ (abi.md §3.4). */
	spin_lock(&qp->lock);
	memset(mock_cq(qp), 0, (size_t)MOCK_CQE_SIZE * depth);
	mock_reset_rings(qp);
	qp->started = true;
	spin_unlock(&qp->lock);
	return 0;
}

static void mock_stop_queue(struct uacce_queue *q)
{
	struct mock_qp *qp = q->priv;

	spin_lock(&qp->lock);
	qp->started = false;
	spin_unlock(&qp->lock);
}

static int mock_is_q_updated(struct uacce_queue *q)
{
	struct mock_qp *qp = q->priv;
	int updated = 0;

	spin_lock(&qp->lock);
	for (;;) {
		void *cqe = mock_cq(qp) + (size_t)qp->shadow_cq_head * MOCK_CQE_SIZE;

		if ((READ_ONCE(*(u16 *)(cqe + CQE_W7)) & 1) != qp->shadow_phase)
			break;
		updated = 1;
		if (++qp->shadow_cq_head == depth) {
			qp->shadow_cq_head = 0;
			qp->shadow_phase ^= 1;
		}
	}
	spin_unlock(&qp->lock);
	return updated;
}

static int mock_mmap(struct uacce_queue *q, struct vm_area_struct *vma,
		     struct uacce_qfile_region *qfr)
{
	struct mock_dev *md = q->uacce->priv;
	struct mock_qp *qp = q->priv;
	size_t sz = vma->vm_end - vma->vm_start;
	void *mem;

	/*
	 * A private mapping would make remap_pfn_range() rewrite vm_pgoff,
	 * which the core uses to find the region at munmap.
	 */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	switch (qfr->type) {
	case UACCE_QFRT_MMIO:
		if (sz > MOCK_MMIO_SIZE)
			return -EINVAL;
		mem = qp->mmio;
		break;
	case UACCE_QFRT_DUS:
		if (sz != md->dus_size)
			return -EINVAL;
		mem = qp->dus;
		break;
	default:
		return -EINVAL;
	}
	return remap_pfn_range(vma, vma->vm_start, page_to_pfn(virt_to_page(mem)),
			       sz, vma->vm_page_prot);
}

static long mock_ioctl(struct uacce_queue *q, unsigned int cmd,
		       unsigned long arg)
{
	struct mock_qp *qp = q->priv;
	struct hisi_qp_ctx ctx;
	struct hisi_qp_info info;

	switch (cmd) {
	case UACCE_CMD_QM_SET_QP_CTX:
		if (copy_from_user(&ctx, (void __user *)arg, sizeof(ctx)))
			return -EFAULT;
		if (ctx.qc_type != 0 && ctx.qc_type != 1)
			return -EINVAL;
		ctx.id = qp->id;
		if (copy_to_user((void __user *)arg, &ctx, sizeof(ctx)))
			return -EFAULT;
		return 0;
	case UACCE_CMD_QM_SET_QP_INFO:
		memset(&info, 0, sizeof(info));
		info.sqe_size = MOCK_SQE_SIZE;
		info.sq_depth = depth;
		info.cq_depth = depth;
		if (copy_to_user((void __user *)arg, &info, sizeof(info)))
			return -EFAULT;
		return 0;
	default:
		return -EINVAL;
	}
}

static const struct uacce_ops mock_uacce_ops = {
	.get_available_instances = mock_get_available_instances,
	.get_queue = mock_get_queue,
	.put_queue = mock_put_queue,
	.start_queue = mock_start_queue,
	.stop_queue = mock_stop_queue,
	.is_q_updated = mock_is_q_updated,
	.mmap = mock_mmap,
	.ioctl = mock_ioctl,
};

static void mock_free_memory(struct mock_dev *md)
{
	unsigned int i;

	for (i = 0; i < queues; i++) {
		if (md->qp[i].dus)
			free_pages_exact(md->qp[i].dus, md->dus_size);
		if (md->qp[i].mmio)
			free_pages_exact(md->qp[i].mmio, MOCK_MMIO_SIZE);
	}
}

static int __init mock_init(void)
{
	struct uacce_interface iface = {
		.name = MOCK_NAME,
		.flags = UACCE_DEV_SVA,
		.ops = &mock_uacce_ops,
	};
	struct mock_dev *md;
	unsigned int i;
	int ret;

	if (depth < 2 || depth > 1024 || queues < 1 || queues > MOCK_MAX_QUEUES)
		return -EINVAL;

	md = kzalloc(sizeof(*md), GFP_KERNEL);
	if (!md)
		return -ENOMEM;
	spin_lock_init(&md->alloc_lock);
	md->dus_size = PAGE_ALIGN((size_t)MOCK_SQE_SIZE * depth +
				  (size_t)MOCK_CQE_SIZE * depth) + PAGE_SIZE;
	for (i = 0; i < queues; i++) {
		struct mock_qp *qp = &md->qp[i];

		spin_lock_init(&qp->lock);
		qp->id = i;
		qp->dus = alloc_pages_exact(md->dus_size, GFP_KERNEL | __GFP_ZERO);
		qp->mmio = alloc_pages_exact(MOCK_MMIO_SIZE, GFP_KERNEL | __GFP_ZERO);
		if (!qp->dus || !qp->mmio) {
			ret = -ENOMEM;
			goto err_mem;
		}
	}

	md->pdev = platform_device_register_simple("mock_hisi_qm", PLATFORM_DEVID_NONE,
						   NULL, 0);
	if (IS_ERR(md->pdev)) {
		ret = PTR_ERR(md->pdev);
		goto err_mem;
	}

	md->uacce = uacce_alloc(&md->pdev->dev, &iface);
	if (IS_ERR(md->uacce)) {
		ret = PTR_ERR(md->uacce);
		goto err_pdev;
	}
	md->uacce->is_vf = false;
	md->uacce->priv = md;
	md->uacce->api_ver = HISI_QM_API_VER2_BASE;
	md->uacce->algs = "zlib\ngzip";
	md->uacce->qf_pg_num[UACCE_QFRT_MMIO] = MOCK_MMIO_SIZE >> PAGE_SHIFT;
	md->uacce->qf_pg_num[UACCE_QFRT_DUS] = md->dus_size >> PAGE_SHIFT;

	md->thread = kthread_run(mock_thread_fn, md, "mock_hisi_qm");
	if (IS_ERR(md->thread)) {
		ret = PTR_ERR(md->thread);
		goto err_uacce;
	}

	ret = uacce_register(md->uacce);
	if (ret)
		goto err_thread;
	mutex_lock(&mock_lock);
	mock = md;
	mutex_unlock(&mock_lock);

	pr_info("mock_hisi_qm: %s-%u, flags %u, %u queues of depth %u, dus %zu bytes, mmio %lu bytes\n",
		MOCK_NAME, md->uacce->dev_id, md->uacce->flags, queues, depth,
		md->dus_size, MOCK_MMIO_SIZE);
	return 0;

err_thread:
	kthread_stop(md->thread);
err_uacce:
	uacce_remove(md->uacce);
err_pdev:
	platform_device_unregister(md->pdev);
err_mem:
	mock_free_memory(md);
	kfree(md);
	return ret;
}

static void __exit mock_exit(void)
{
	struct mock_dev *md;

	mutex_lock(&mock_lock);
	md = mock;
	mock = NULL;
	mutex_unlock(&mock_lock);

	/*
	 * uacce_remove() zaps every user mapping and puts every queue, so the
	 * pages below are unreachable from userspace before they are freed.
	 */
	uacce_remove(md->uacce);
	kthread_stop(md->thread);
	platform_device_unregister(md->pdev);
	mock_free_memory(md);
	kfree(md);
}

module_init(mock_init);
module_exit(mock_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("the uacce-rs authors");
MODULE_DESCRIPTION("Mock HiSilicon QM (ZIP v2) parent for the uacce core, for conformance tests");
