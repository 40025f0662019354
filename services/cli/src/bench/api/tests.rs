use std::path::Path;

use tenantry_sagas::{ContextChange, TenantStatus};
use tenantry_schemas::{ProductKey, TenantId};

use super::scrape::Scrape;
use super::wrk::{self, WrkFigures};
use super::{ApiArgs, tenants, token_ttl};

const DONE_LINE: &str = "TENANTRY_WRK requests=1200345 duration_us=20001234 bytes=1500000000 \
     mean_us=512.3 p50_us=430 p99_us=1890 p999_us=4210 max_us=15003 status_errors=0 \
     connect_errors=0 read_errors=2 write_errors=0 timeouts=1";

#[test]
fn the_done_line_is_read_out_of_wrks_output() {
    let stdout = format!(
        "Running 20s test @ http://127.0.0.1:40000\n  1 threads and 32 connections\n\
         {DONE_LINE}\n"
    );
    let figures = WrkFigures::parse(&stdout).unwrap();
    assert_eq!(
        figures,
        WrkFigures {
            requests: 1_200_345,
            duration_us: 20_001_234,
            bytes: 1_500_000_000,
            mean_us: 512.3,
            p50_us: 430,
            p99_us: 1890,
            p999_us: 4210,
            max_us: 15_003,
            status_errors: 0,
            connect_errors: 0,
            read_errors: 2,
            write_errors: 0,
            timeouts: 1,
        }
    );
    assert_eq!(figures.socket_errors(), 3);
    let per_second = figures.requests_per_second();
    assert!((per_second - 60_013.5).abs() < 1.0, "{per_second}");
}

#[test]
fn wrk_output_without_the_line_or_with_a_bad_field_is_an_error() {
    let error = WrkFigures::parse("Running 20s test\n").unwrap_err();
    assert!(
        error.to_string().contains("no TENANTRY_WRK line"),
        "{error}"
    );
    let missing = DONE_LINE.replace(" p99_us=1890", "");
    let error = WrkFigures::parse(&missing).unwrap_err();
    assert!(error.to_string().contains("no p99_us"), "{error}");
    let bad = DONE_LINE.replace("requests=1200345", "requests=lots");
    let error = WrkFigures::parse(&bad).unwrap_err();
    assert!(error.to_string().contains("requests"), "{error}");
}

#[test]
fn the_script_prints_every_field_the_parser_reads() {
    let script = wrk::script(Path::new("/tmp/x/paths.tsv"), &["a.b.c".into()], 0.25);
    for field in [
        "requests=",
        "duration_us=",
        "bytes=",
        "mean_us=",
        "p50_us=",
        "p99_us=",
        "p999_us=",
        "max_us=",
        "status_errors=",
        "connect_errors=",
        "read_errors=",
        "write_errors=",
        "timeouts=",
    ] {
        assert!(script.contains(field), "{field}");
    }
    assert!(script.contains("[==[/tmp/x/paths.tsv]==]"));
    assert!(script.contains("[==[a.b.c]==]"));
    assert!(script.contains("local host_share = 0.25"));
    assert!(script.contains("latency:percentile(99.9)"));
}

#[test]
fn synthetic_tenants_are_active_and_fully_provisioned() {
    for i in [0, 1, 2, 3, 99_999] {
        let context = tenants::context(i, "tenantry.test");
        let state = &context.state;
        assert_eq!(context.tenant_id, tenants::tenant_id(i));
        assert_eq!(state.status, TenantStatus::Active);
        assert_eq!(
            state.site_host.as_deref(),
            Some(format!("{}.tenantry.test", context.tenant_id).as_str())
        );
        assert!(state.region.is_some());
        let products = state.products.len();
        assert_eq!(products, if i % 2 == 0 { 2 } else { 1 }, "tenant {i}");
        assert!(
            state
                .products
                .contains_key(&ProductKey::parse("jira").unwrap())
        );
        for product in state.products.values() {
            assert!(product.licence.is_some() && product.shard.is_some());
            let database = product.database.as_deref().unwrap();
            assert!(
                database.starts_with("t_") && !database.contains('-'),
                "{database}"
            );
        }
        assert_eq!(state.groups.len(), products + 1);
        assert!(context.version.provisioning_sequence > 0);
    }
}

#[test]
fn synthetic_tenants_are_distinct_and_deterministic() {
    let ids: std::collections::BTreeSet<TenantId> = (0..1000).map(tenants::tenant_id).collect();
    assert_eq!(ids.len(), 1000);
    assert_eq!(tenants::context(7, "d.test"), tenants::context(7, "d.test"));
    assert_eq!(tenants::tenant_id(1).as_str(), "globex-1");
    assert_eq!(tenants::site_host(1, "d.test"), "globex-1.d.test");
}

#[test]
fn a_record_is_the_changelog_json_of_revision_one_keyed_by_tenant() {
    let (key, value) = tenants::record(5, "tenantry.test");
    let change: ContextChange = serde_json::from_slice(&value).unwrap();
    assert_eq!(change.revision, 1);
    assert_eq!(key, change.context.tenant_id);
    assert_eq!(change.context, tenants::context(5, "tenantry.test"));
    assert!(value.len() > 300, "{} bytes", value.len());
}

#[test]
fn a_paths_line_has_the_tenant_route_a_tab_and_the_host_route() {
    assert_eq!(
        tenants::paths_line(1, "tenantry.test"),
        "/v1/tenants/globex-1/context\t/v1/sites/globex-1.tenantry.test/context"
    );
}

#[test]
fn the_hit_ratio_is_taken_between_two_scrapes() {
    let scrape = |hits: u64, misses: u64, ok: u64, not_found: u64| {
        Scrape::parse(&format!(
            "# HELP tenantry_api_cache_lookups_total Context cache lookups.\n\
             # TYPE tenantry_api_cache_lookups_total counter\n\
             tenantry_api_cache_lookups_total{{result=\"hit\"}} {hits}\n\
             tenantry_api_cache_lookups_total{{result=\"miss\"}} {misses}\n\
             tenantry_api_requests_total{{route=\"/v1/tenants/{{tenant_id}}/context\",method=\"GET\",status=\"200\"}} {ok}\n\
             tenantry_api_requests_total{{route=\"/v1/sites/{{host}}/context\",method=\"GET\",status=\"404\"}} {not_found}\n\
             tenantry_api_requests_total{{route=\"/readyz\",method=\"GET\",status=\"503\"}} 9\n\
             tenantry_api_cache_entries 200000\n\
             tenantry_api_cache_bytes 1.5e8\n"
        ))
    };
    let before = scrape(10, 0, 10, 0);
    let after = scrape(1010, 10, 1010, 10);
    assert_eq!(after.hit_ratio_since(&before), Some(1000.0 / 1010.0));
    assert_eq!(after.ok_ratio_since(&before), Some(1000.0 / 1010.0));
    assert_eq!(after.non_2xx_since(&before), 10.0);
    assert_eq!(after.cache_entries, Some(200_000.0));
    assert_eq!(after.cache_bytes, Some(1.5e8));
    // A scrape without the cache counters has no hit ratio.
    let bare = Scrape::parse("tenantry_api_cache_entries 5\n");
    assert_eq!(bare.hit_ratio_since(&Scrape::default()), None);
}

#[test]
fn tokens_outlive_the_run_within_the_apis_lifetime_limit() {
    let args = ApiArgs::default();
    assert_eq!(token_ttl(&args, 3600).unwrap(), 3 + 20 + 60 + 300);
    assert_eq!(token_ttl(&args, 100).unwrap(), 100);
    assert!(token_ttl(&args, 50).is_err());
    let long = ApiArgs {
        duration_secs: 3000,
        ..ApiArgs::default()
    };
    assert_eq!(token_ttl(&long, 0).unwrap(), 3 + 3000 + 60 + 300);
}

#[test]
fn bench_api_parses_its_own_flags_and_its_groups() {
    use crate::bench::Measure;
    use crate::{Cli, Command};
    use clap::Parser;
    let cli = Cli::try_parse_from([
        "tenantry",
        "bench",
        "api",
        "--connections",
        "64",
        "--host-share",
        "0.5",
        "--cache-mib",
        "512",
    ])
    .unwrap();
    match cli.command {
        Command::Bench(bench) => match bench.measure {
            Some(Measure::Api { args: api, flags }) => {
                assert_eq!(flags.cache.cache_mib, 512);
                assert_eq!(
                    (api.tenants, api.threads, api.connections),
                    (100_000, 1, 64)
                );
                assert_eq!((api.duration_secs, api.warm_up_secs), (20, 3));
                assert!((api.host_share - 0.5).abs() < f64::EPSILON);
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(Cli::try_parse_from(["tenantry", "bench", "api", "--host-share", "2"]).is_err());
}
