package web

import "github.com/minefarm/cgminer-stack/receiver/store"

func storeFilter() store.Filter { return store.Filter{} }
