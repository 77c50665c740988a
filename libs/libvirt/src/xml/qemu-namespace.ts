/** libvirt's namespace for extra QEMU arguments (`<qemu:commandline>`); libvirt always writes it with this prefix. */
export const QEMU_XMLNS = 'http://libvirt.org/schemas/domain/qemu/1.0';
export const QEMU_PREFIX = 'qemu';

/** The netdev and device id of the user-mode NIC LIMEN adds through that namespace. */
export const USER_NETDEV_ID = 'limen-net0';
