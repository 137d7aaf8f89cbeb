//! `--addr a,b,c` against one room spread over three `gameserver --cluster` instances (built
//! in process from the gameserver library, on a real `redis-server`): the chat scenario splits
//! every room's members over the instances and still verifies that every member gets every
//! chat of its room exactly once, in per-sender order.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use dummyclient::load::{self, LoadConfig};
use gameserver::chat_service::bind_chat;
use gameserver::cluster::{Backplane, Cluster, ClusterArgs, ClusterStats, NodeId};
use gameserver::game::Game;
use servercore::packet::{Packets, DEFAULT_MAX_PACKET, HEADER_LEN};
use servercore::{Model, Service, ServiceConfig};
use testkit::{loopback, one_model, RedisServer};

/// One clustered instance: the service, its backplane and its counters.
struct Node {
    service: Service<Packets<Game>>,
    _backplane: Backplane,
    stats: Arc<ClusterStats>,
}

fn node(model: Model, url: &str, name: &str, secret: &std::path::Path) -> Node {
    let args = ClusterArgs {
        cluster: Some(url.to_string()),
        node_id: Some(NodeId::parse(name).expect("a valid id")),
        cluster_ttl_ms: 6000,
        cluster_queue: 8192,
        cluster_secret_file: Some(secret.to_path_buf()),
        cluster_insecure: false,
    };
    let mut cluster = Cluster::new(&args, DEFAULT_MAX_PACKET - HEADER_LEN)
        .expect("a Redis URL")
        .expect("--cluster given");
    let stats = cluster.stats();
    let config = ServiceConfig {
        threads: 2,
        model,
        ..Default::default()
    };
    let (service, _rooms) = bind_chat(loopback(), config, 1000, Some(&mut cluster), |game| {
        Packets::new(game, DEFAULT_MAX_PACKET)
    })
    .expect("game server starts");
    let backplane = cluster.start(service.notifier()).expect("backplane starts");
    Node {
        service,
        _backplane: backplane,
        stats,
    }
}

fn chat_over_three_instances(model: Model) {
    let redis = RedisServer::start();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "the test cluster's shared secret\n").unwrap();
    let nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|name| node(model, &redis.url(), name, secret.path()))
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| n.service.local_addr().unwrap().to_string())
        .collect();
    // 60 clients in 4 rooms: 15 members a room, 5 on each instance.
    let config = LoadConfig {
        duration: Duration::from_secs(1),
        threads: 2,
        model,
        connect_timeout: Duration::from_secs(20),
        ..LoadConfig::chat(addrs.join(","), 60, 4, 10)
    };
    let report = load::run(&config, &AtomicBool::new(false)).expect("run completes");
    assert!(report.passed(), "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert!(report.sent >= 300, "about 600 chats in 1 s: {report}");
    assert_eq!(report.deliveries, report.sent * 15, "{report}");
    for n in &nodes {
        // Two thirds of each room's chats come from the other two instances.
        assert!(
            n.stats.received() > 0,
            "{} received nothing",
            n.stats.node()
        );
        assert_eq!(n.stats.gaps(), 0);
    }
}

one_model!(
    #[cfg_attr(
        windows,
        ignore = "needs redis-server (the Debian package .ci/run installs), which a Windows test cannot start"
    )]
    chat_rooms_split_over_three_instances,
    chat_over_three_instances
);
