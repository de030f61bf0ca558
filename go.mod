module github.com/evpoll/poller

go 1.24
