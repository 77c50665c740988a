/** libvirt's namespace for extra QEMU arguments (`<qemu:commandline>`); libvirt always writes it with this prefix. */
export const QEMU_XMLNS = 'http://libvirt.org/schemas/domain/qemu/1.0';
export const QEMU_PREFIX = 'qemu';

/** The netdev and device id of the single user-mode NIC of definitions made before NICs had ids. */
export const USER_NETDEV_ID = 'limen-net0';

/** The virtio-serial port name the QEMU guest agent listens on. */
export const GUEST_AGENT_CHANNEL = 'org.qemu.guest_agent.0';
