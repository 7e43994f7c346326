package devbroker

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultAddr is the address used by [Start] when addr is empty: the
// loopback interface with a port chosen by the operating system.
const DefaultAddr = "127.0.0.1:0"

// groupMinSessionTimeout is the smallest consumer-group session timeout the
// broker accepts. kfake defaults to 6s like Kafka; we lower it so tests can
// use short session timeouts and detect dead members quickly.
const groupMinSessionTimeout = 100 * time.Millisecond

// ErrClosed is returned by [Broker.CreateTopic] after [Broker.Close].
var ErrClosed = errors.New("devbroker: broker is closed")

// Broker is a running in-memory, single-node Kafka-protocol broker.
//
// A Broker is safe for concurrent use. Create one with [Start] and release
// it with [Broker.Close].
type Broker struct {
	cluster *kfake.Cluster
	addrs   []string

	mu     sync.Mutex // guards closed; held across calls into cluster
	closed bool
}

// Start starts a kfake cluster of one broker listening on addr and creates
// the given topics with their partition counts.
//
// addr is "host:port", e.g. "127.0.0.1:9092" for a fixed port or
// "127.0.0.1:0" for any free port; empty means [DefaultAddr]. An empty host
// means 127.0.0.1. The listener's actual address is what the broker
// advertises in metadata, so it must be reachable by clients: use a
// loopback address, not a wildcard such as 0.0.0.0.
//
// topics maps topic name to partition count; every count must be >= 1.
// Topics are created before Start returns, so clients can produce and
// consume immediately.
func Start(addr string, topics map[string]int) (*Broker, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("devbroker: bad listen address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return nil, fmt.Errorf("devbroker: listen address %q is a wildcard; the broker advertises its listen address, so use a concrete (loopback) host", addr)
	}
	listenAddr := net.JoinHostPort(host, port)

	for name, n := range topics {
		if err := validateTopic(name, n); err != nil {
			return nil, err
		}
	}

	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		// kfake always asks to listen on 127.0.0.1:<port>; we listen
		// on exactly the address the caller asked for instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, listenAddr)
		}),
		kfake.ClusterID("offtake-devbroker"),
		kfake.GroupMinSessionTimeout(groupMinSessionTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("devbroker: start broker on %s: %w", listenAddr, err)
	}
	b := &Broker{cluster: cluster, addrs: cluster.ListenAddrs()}
	for name, n := range topics {
		if err := b.CreateTopic(name, n); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// Addrs returns the broker's "host:port" addresses, suitable for kafka-go's
// ReaderConfig.Brokers, ConsumerGroupConfig.Brokers, or (first element)
// kafka.TCP for Writer.Addr and Client.Addr. The returned slice is a copy.
func (b *Broker) Addrs() []string {
	return append([]string(nil), b.addrs...)
}

// Close shuts the broker down, closing its listener and dropping all data.
// Open client connections start failing. Close is idempotent.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	b.cluster.Close()
}

// CreateTopic creates topic name with the given number of partitions.
//
// It is idempotent: if the topic already exists with the same partition
// count it returns nil. If it exists with a different partition count it
// returns an error and leaves the topic unchanged. It returns [ErrClosed]
// after [Broker.Close].
func (b *Broker) CreateTopic(name string, partitions int) error {
	if err := validateTopic(name, partitions); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	err := b.cluster.CreateTopic(name, int32(partitions), nil)
	if err == nil {
		return nil
	}
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("devbroker: create topic %q: %w", name, err)
	}
	if have := len(b.cluster.PartitionInfos(name)); have != partitions {
		return fmt.Errorf("devbroker: topic %q already exists with %d partitions, not %d", name, have, partitions)
	}
	return nil
}

func validateTopic(name string, partitions int) error {
	if name == "" {
		return errors.New("devbroker: empty topic name")
	}
	if partitions < 1 || partitions > 1<<20 {
		return fmt.Errorf("devbroker: topic %q: partition count %d out of range", name, partitions)
	}
	return nil
}
